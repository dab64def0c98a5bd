import Foundation

/// A point in image pixels (x to the right, y down).
public struct PixelPoint: Equatable, Sendable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// The three landmarks the alignment uses, in pixels of the upright image. Left and right are
/// the subject's: on an unmirrored frontal face `rightEye` is on the image's left.
public struct FaceLandmarks: Equatable, Sendable {
    public var rightEye: PixelPoint
    public var leftEye: PixelPoint
    public var mouthCenter: PixelPoint

    public init(rightEye: PixelPoint, leftEye: PixelPoint, mouthCenter: PixelPoint) {
        self.rightEye = rightEye
        self.leftEye = leftEye
        self.mouthCenter = mouthCenter
    }
}

/// An 8-bit image with 4 bytes per pixel (BGRA from the camera, or RGBA), row-major.
public struct PixelImage: Sendable {
    public let width: Int
    public let height: Int
    public let bytesPerRow: Int
    public let bytes: [UInt8]
    /// Byte offsets of red, green and blue inside a pixel: (2, 1, 0) for BGRA.
    public let channelOffsets: (Int, Int, Int)

    public init?(width: Int, height: Int, bytesPerRow: Int, bytes: [UInt8], channelOffsets: (Int, Int, Int)) {
        guard width > 0, height > 0, bytesPerRow >= width * 4, bytes.count >= bytesPerRow * height else { return nil }
        self.width = width
        self.height = height
        self.bytesPerRow = bytesPerRow
        self.bytes = bytes
        self.channelOffsets = channelOffsets
    }

    /// Channel `c` (0 red, 1 green, 2 blue) at (x, y), or 0 (black) outside the image.
    func channel(_ x: Int, _ y: Int, _ c: Int) -> Double {
        if x < 0 || y < 0 || x >= width || y >= height { return 0 }
        let offset = c == 0 ? channelOffsets.0 : (c == 1 ? channelOffsets.1 : channelOffsets.2)
        return Double(bytes[y * bytesPerRow + x * 4 + offset])
    }
}

/// Aligns a face into the 150x150 chip the embedder (`face_embedder.onnx`) expects, exactly as
/// the Rust pipeline (`faceid/src/align.rs`), the Android app and the Python reference
/// (`models/scripts/make_face_crops.py`): a least-squares similarity transform maps the eyes and
/// the mouth centre onto dlib's mean face with 25% padding; bilinear resampling, k x k
/// supersampling when the face is larger than the chip, rounding to integers.
public enum FaceAligner {
    /// Side of the chip, pixels.
    public static let chipSize = 150
    /// dlib's padding around the mean face.
    public static let padding = 0.25

    /// dlib's mean face in [0,1] units: right eye, left eye, mouth centre.
    private static let meanFace = [
        PixelPoint(x: 0.22733, y: 0.22139),
        PixelPoint(x: 0.75281, y: 0.22123),
        PixelPoint(x: 0.49011, y: 0.80),
    ]

    /// Where the mean face's points land in the chip.
    public static let templatePx: [PixelPoint] = meanFace.map { p in
        PixelPoint(
            x: (padding + p.x) / (1 + 2 * padding) * Double(chipSize),
            y: (padding + p.y) / (1 + 2 * padding) * Double(chipSize)
        )
    }

    /// The least-squares similarity transform mapping `src` onto `dst`, row-major 2x3:
    /// `[a, -b, tx, b, a, ty]`.
    public static func similarity(_ src: [PixelPoint], _ dst: [PixelPoint]) -> [Double] {
        let n = Double(min(src.count, dst.count))
        guard n > 0 else { return [0, 0, 0, 0, 0, 0] }
        let msx = src.reduce(0) { $0 + $1.x } / n
        let msy = src.reduce(0) { $0 + $1.y } / n
        let mdx = dst.reduce(0) { $0 + $1.x } / n
        let mdy = dst.reduce(0) { $0 + $1.y } / n
        var dot = 0.0
        var cross = 0.0
        var norm = 0.0
        for (s, d) in zip(src, dst) {
            let sx = s.x - msx
            let sy = s.y - msy
            let dx = d.x - mdx
            let dy = d.y - mdy
            dot += sx * dx + sy * dy
            cross += sx * dy - sy * dx
            norm += sx * sx + sy * sy
        }
        let a = norm > 0 ? dot / norm : 0
        let b = norm > 0 ? cross / norm : 0
        return [a, -b, mdx - (a * msx - b * msy), b, a, mdy - (b * msx + a * msy)]
    }

    /// The chip of the face at `landmarks`: 3x150x150 float values 0...255 (integers), NCHW, for
    /// `Tensor.float32(chip, shape: [1, 3, 150, 150])`.
    public static func align(_ image: PixelImage, _ landmarks: FaceLandmarks) -> [Float] {
        let m = similarity([landmarks.rightEye, landmarks.leftEye, landmarks.mouthCenter], templatePx)
        let scale = (m[0] * m[0] + m[3] * m[3]).squareRoot()
        var k = 1
        if scale.isFinite && scale > 0 {
            k = min(max(Int((1.0 / scale - 1e-6).rounded(.up)), 1), 64)
        }
        let det = m[0] * m[4] - m[1] * m[3]
        var inv = [0.0, 0, 0, 0, 0, 0]
        if det != 0 && det.isFinite {
            let a = m[4] / det
            let b = -m[1] / det
            let c = -m[3] / det
            let d = m[0] / det
            inv = [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])]
        }
        let plane = chipSize * chipSize
        var out = [Float](repeating: 0, count: 3 * plane)
        let kd = Double(k)
        for cy in 0..<chipSize {
            for cx in 0..<chipSize {
                var acc = (0.0, 0.0, 0.0)
                for sy in 0..<k {
                    let gy = (Double(cy * k + sy) + 0.5) / kd - 0.5
                    for sx in 0..<k {
                        let gx = (Double(cx * k + sx) + 0.5) / kd - 0.5
                        let x = inv[0] * gx + inv[1] * gy + inv[2]
                        let y = inv[3] * gx + inv[4] * gy + inv[5]
                        let v = bilinear(image, x, y)
                        acc.0 += v.0
                        acc.1 += v.1
                        acc.2 += v.2
                    }
                }
                let samples = Double(k * k)
                let means = [acc.0 / samples, acc.1 / samples, acc.2 / samples]
                for c in 0..<3 {
                    // numpy's rint: halves go to the even neighbour.
                    let rounded = Float(means[c]).rounded(.toNearestOrEven)
                    out[c * plane + cy * chipSize + cx] = min(max(rounded, 0), 255)
                }
            }
        }
        return out
    }

    /// The bilinear sample at (x, y): pixel centres at integers, black outside the image.
    private static func bilinear(_ image: PixelImage, _ x: Double, _ y: Double) -> (Double, Double, Double) {
        guard x.isFinite, y.isFinite, abs(x) < 1e9, abs(y) < 1e9 else { return (0, 0, 0) }
        let x0 = x.rounded(.down)
        let y0 = y.rounded(.down)
        let fx = x - x0
        let fy = y - y0
        let xi = Int(x0)
        let yi = Int(y0)
        var v = [0.0, 0.0, 0.0]
        for c in 0..<3 {
            let top = image.channel(xi, yi, c) * (1 - fx) + image.channel(xi + 1, yi, c) * fx
            let bottom = image.channel(xi, yi + 1, c) * (1 - fx) + image.channel(xi + 1, yi + 1, c) * fx
            v[c] = top * (1 - fy) + bottom * fy
        }
        return (v[0], v[1], v[2])
    }
}
