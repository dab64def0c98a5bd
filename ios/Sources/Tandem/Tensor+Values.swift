import Foundation

extension Tensor {
    /// A float32 tensor from `values` in row-major order.
    ///
    /// - Parameter name: the model input's name; empty takes the name of the input at its
    ///   position.
    public static func float32(_ values: [Float], shape: [Int], name: String = "") -> Tensor {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        return Tensor(name: name, dtype: .fp32, shape: shape.map { UInt64($0) }, data: data)
    }

    /// A uint8 tensor (e.g. camera pixels) from `bytes` in row-major order.
    public static func uint8(_ bytes: Data, shape: [Int], name: String = "") -> Tensor {
        precondition(shape.reduce(1, *) == bytes.count, "shape \(shape) does not hold \(bytes.count) bytes")
        return Tensor(name: name, dtype: .uint8, shape: shape.map { UInt64($0) }, data: bytes)
    }

    /// The values of a float32 tensor (`nil` for other element types). Apple platforms are
    /// little-endian, like the tensor's bytes.
    public var floats: [Float]? {
        guard dtype == .fp32 else { return nil }
        var values = [Float](repeating: 0, count: data.count / MemoryLayout<Float>.size)
        _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return values
    }

    /// The shape as `Int`s.
    public var dims: [Int] { shape.map { Int($0) } }
}

extension Array where Element == Tensor {
    /// The tensor called `name`, e.g. `result.outputs["descriptor"]`.
    public subscript(name: String) -> Tensor? {
        first { $0.name == name }
    }
}
