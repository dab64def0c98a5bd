import Foundation
#if canImport(CoreVideo)
import CoreVideo
#endif

/// Camera frames to model inputs as the model's sidecar says (`modelInfo.preprocessing`):
/// the same steps as Kotlin's `FrameTensors` and the Rust reference
/// (`tandem_model::preprocess`): region (an optional crop, centre-cropped to the output's
/// aspect ratio unless the sidecar says `stretch`), bilinear resize with half-pixel centres,
/// `(pixel - mean) / std` per channel with pixels in 0..255, NCHW or NHWC, RGB or BGR.
/// YUV is converted with BT.601 full range. Only the sampled region is read. No rotation: pass
/// upright frames (`AVCaptureConnection.videoRotationAngle` / `videoOrientation`).
///
/// This file is parsed in CI (`cargo xtask swift`), not compiled: there is no Apple toolchain
/// there. Its arithmetic is the Kotlin helper's, which is tested against the Rust reference.
public enum FrameTensors {
    /// A rectangle of the frame, pixels.
    public struct Crop: Equatable, Sendable {
        public var x: Int, y: Int, width: Int, height: Int
        public init(x: Int, y: Int, width: Int, height: Int) {
            self.x = x; self.y = y; self.width = width; self.height = height
        }
    }

    /// The region sampled; `nil` if it is empty.
    public static func region(frameWidth: Int, frameHeight: Int, crop: Crop?, spec: Preprocessing) -> Crop? {
        let r = crop ?? Crop(x: 0, y: 0, width: frameWidth, height: frameHeight)
        guard r.x >= 0, r.y >= 0, r.width > 0, r.height > 0 else { return nil }
        let x1 = min(r.x + r.width, frameWidth), y1 = min(r.y + r.height, frameHeight)
        guard r.x < x1, r.y < y1 else { return nil }
        var x = r.x, y = r.y, w = x1 - r.x, h = y1 - r.y
        if spec.resize == .centerCrop {
            let ow = Int(spec.width), oh = Int(spec.height)
            if w * oh > h * ow {
                let nw = max(h * ow / oh, 1)
                x += (w - nw) / 2
                w = nw
            } else {
                let nh = max(w * oh / ow, 1)
                y += (h - nh) / 2
                h = nh
            }
        }
        return Crop(x: x, y: y, width: w, height: h)
    }

    /// The normalised values of a frame whose pixel `(x, y)` is `rgbAt(x, y)` (0...255).
    /// - Throws: `TandemError.invalidInput` for an empty region or an unusable spec.
    public static func floats(
        frameWidth: Int, frameHeight: Int, crop: Crop?, spec: Preprocessing,
        rgbAt: (Int, Int) -> (Float, Float, Float)
    ) throws -> [Float] {
        guard spec.mean.count == 3, spec.std.count == 3, spec.width > 0, spec.height > 0 else {
            throw TandemError.invalidInput(reason: "preprocessing: needs a size and 3 means and stds")
        }
        guard let r = region(frameWidth: frameWidth, frameHeight: frameHeight, crop: crop, spec: spec) else {
            throw TandemError.invalidInput(reason: "the crop is outside the \(frameWidth)x\(frameHeight) frame")
        }
        let w = Int(spec.width), h = Int(spec.height)
        let xs = axis(w, start: r.x, length: r.width), ys = axis(h, start: r.y, length: r.height)
        var out = [Float](repeating: 0, count: 3 * w * h)
        for oy in 0..<h {
            let (y0, y1, fy) = ys[oy]
            for ox in 0..<w {
                let (x0, x1, fx) = xs[ox]
                let a = rgbAt(x0, y0), b = rgbAt(x1, y0), c = rgbAt(x0, y1), d = rgbAt(x1, y1)
                let channels = [(a.0, b.0, c.0, d.0), (a.1, b.1, c.1, d.1), (a.2, b.2, c.2, d.2)]
                for (ch, (pa, pb, pc, pd)) in channels.enumerated() {
                    let top = pa + (pb - pa) * fx
                    let bottom = pc + (pd - pc) * fx
                    let value = top + (bottom - top) * fy
                    let oc = spec.channelOrder == .bgr ? 2 - ch : ch
                    let index = spec.layout == .nchw ? oc * h * w + oy * w + ox : (oy * w + ox) * 3 + oc
                    out[index] = (value - spec.mean[oc]) / spec.std[oc]
                }
            }
        }
        return out
    }

    /// The tensor of `values` for `spec`: float32, the sidecar's input name and shape.
    public static func tensor(_ values: [Float], spec: Preprocessing) -> Tensor {
        let w = Int(spec.width), h = Int(spec.height)
        let shape = spec.layout == .nchw ? [1, 3, h, w] : [1, h, w, 3]
        return .float32(values, shape: shape, name: spec.input ?? "")
    }

    /// BT.601 full-range YUV to RGB, clamped to 0...255.
    static func rgb(y: UInt8, cb: UInt8, cr: UInt8) -> (Float, Float, Float) {
        let l = Float(y), u = Float(cb) - 128, v = Float(cr) - 128
        let clamp = { (c: Float) in min(max(c, 0), 255) }
        return (clamp(l + 1.402 * v), clamp(l - 0.344136 * u - 0.714136 * v), clamp(l + 1.772 * u))
    }

    private static func axis(_ outLength: Int, start: Int, length: Int) -> [(Int, Int, Float)] {
        let first = Double(start), last = Double(start + length - 1)
        return (0..<outLength).map { o in
            let s = min(max(Double(start) + (Double(o) + 0.5) * Double(length) / Double(outLength) - 0.5, first), last)
            let i0 = s.rounded(.down)
            return (Int(i0), Int(min(i0 + 1, last)), Float(s - i0))
        }
    }
}

#if canImport(CoreVideo)
extension FrameTensors {
    /// A camera frame (`kCVPixelFormatType_32BGRA`, or bi-planar 4:2:0 YCbCr
    /// `420YpCbCr8BiPlanarFullRange`, what `AVCaptureVideoDataOutput` gives) as the model input
    /// `spec` describes. Call it on the capture queue.
    /// - Throws: `TandemError.invalidInput` for another pixel format or an empty crop.
    public static func tensor(from pixelBuffer: CVPixelBuffer, spec: Preprocessing, crop: Crop? = nil) throws -> Tensor {
        CVPixelBufferLockBaseAddress(pixelBuffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(pixelBuffer, .readOnly) }
        let width = CVPixelBufferGetWidth(pixelBuffer), height = CVPixelBufferGetHeight(pixelBuffer)
        switch CVPixelBufferGetPixelFormatType(pixelBuffer) {
        case kCVPixelFormatType_32BGRA:
            guard let base = CVPixelBufferGetBaseAddress(pixelBuffer) else {
                throw TandemError.invalidInput(reason: "the pixel buffer has no pixels")
            }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            let stride = CVPixelBufferGetBytesPerRow(pixelBuffer)
            let values = try floats(frameWidth: width, frameHeight: height, crop: crop, spec: spec) { x, y in
                let p = bytes + y * stride + x * 4
                return (Float(p[2]), Float(p[1]), Float(p[0]))
            }
            return tensor(values, spec: spec)
        case kCVPixelFormatType_420YpCbCr8BiPlanarFullRange:
            guard let yBase = CVPixelBufferGetBaseAddressOfPlane(pixelBuffer, 0),
                  let cBase = CVPixelBufferGetBaseAddressOfPlane(pixelBuffer, 1) else {
                throw TandemError.invalidInput(reason: "the pixel buffer has no planes")
            }
            let luma = yBase.assumingMemoryBound(to: UInt8.self)
            let chroma = cBase.assumingMemoryBound(to: UInt8.self)
            let yStride = CVPixelBufferGetBytesPerRowOfPlane(pixelBuffer, 0)
            let cStride = CVPixelBufferGetBytesPerRowOfPlane(pixelBuffer, 1)
            let values = try floats(frameWidth: width, frameHeight: height, crop: crop, spec: spec) { x, y in
                let c = chroma + (y / 2) * cStride + (x / 2) * 2 // Cb, Cr interleaved
                return rgb(y: luma[y * yStride + x], cb: c[0], cr: c[1])
            }
            return tensor(values, spec: spec)
        default:
            throw TandemError.invalidInput(reason: "pixel format: expected 32BGRA or 420YpCbCr8BiPlanarFullRange")
        }
    }
}
#endif
