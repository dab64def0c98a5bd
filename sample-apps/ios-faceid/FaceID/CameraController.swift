import AVFoundation
import Foundation
import Vision

/// The front camera and the face finder: each frame goes through Apple's Vision face landmarks
/// (on the phone, offline), the one face is aligned into the embedder's 150x150 chip
/// (`FaceAligner`) and handed to `onFace`. Frames without exactly one usable face go to
/// `onProblem`. The frame never leaves the phone; only the chip's embedding, split by the SDK
/// with the privacy floor, does.
final class CameraController: NSObject, AVCaptureVideoDataOutputSampleBufferDelegate, @unchecked Sendable {
    /// The capture session, for the preview layer.
    let session = AVCaptureSession()

    /// Called on the capture queue with one aligned chip (NCHW floats).
    var onFace: (([Float]) -> Void)?
    /// Called on the capture queue when a frame has no usable face.
    var onProblem: ((String) -> Void)?

    private let queue = DispatchQueue(label: "dev.tandem.faceid.camera")
    private let lock = NSLock()
    private var isPaused = false

    /// While true, frames are dropped (a face is being embedded).
    var paused: Bool {
        get { lock.lock(); defer { lock.unlock() }; return isPaused }
        set { lock.lock(); isPaused = newValue; lock.unlock() }
    }

    /// Asks for the camera if needed, then starts capturing.
    func start() {
        AVCaptureDevice.requestAccess(for: .video) { [weak self] granted in
            guard let self else { return }
            guard granted else {
                self.onProblem?("The camera is needed to see your face. It never leaves the phone.")
                return
            }
            self.queue.async { self.configureAndRun() }
        }
    }

    private func configureAndRun() {
        guard !session.isRunning else { return }
        session.beginConfiguration()
        session.sessionPreset = .vga640x480
        guard let device = AVCaptureDevice.default(.builtInWideAngleCamera, for: .video, position: .front),
              let input = try? AVCaptureDeviceInput(device: device),
              session.canAddInput(input)
        else {
            session.commitConfiguration()
            onProblem?("No front camera")
            return
        }
        session.addInput(input)
        let output = AVCaptureVideoDataOutput()
        output.videoSettings = [kCVPixelBufferPixelFormatTypeKey as String: kCVPixelFormatType_32BGRA]
        output.alwaysDiscardsLateVideoFrames = true
        output.setSampleBufferDelegate(self, queue: queue)
        guard session.canAddOutput(output) else {
            session.commitConfiguration()
            onProblem?("The camera cannot deliver frames")
            return
        }
        session.addOutput(output)
        if let connection = output.connection(with: .video) {
            // Upright, unmirrored frames: what the aligner and the landmarks expect.
            if connection.isVideoOrientationSupported {
                connection.videoOrientation = .portrait
            }
            if connection.isVideoMirroringSupported {
                connection.automaticallyAdjustsVideoMirroring = false
                connection.isVideoMirrored = false
            }
        }
        session.commitConfiguration()
        session.startRunning()
    }

    /// Stops capturing.
    func stop() {
        queue.async { self.session.stopRunning() }
    }

    func captureOutput(_ output: AVCaptureOutput, didOutput sampleBuffer: CMSampleBuffer, from connection: AVCaptureConnection) {
        guard !paused, let buffer = CMSampleBufferGetImageBuffer(sampleBuffer) else { return }
        let request = VNDetectFaceLandmarksRequest()
        let handler = VNImageRequestHandler(cvPixelBuffer: buffer, orientation: .up, options: [:])
        do {
            try handler.perform([request])
        } catch {
            onProblem?("Face detection failed")
            return
        }
        let faces = request.results ?? []
        if faces.isEmpty {
            onProblem?("No face")
            return
        }
        if faces.count > 1 {
            onProblem?("\(faces.count) faces: one at a time")
            return
        }
        let width = CVPixelBufferGetWidth(buffer)
        let height = CVPixelBufferGetHeight(buffer)
        guard let landmarks = Self.landmarks(of: faces[0], width: width, height: height),
              let image = Self.pixels(of: buffer)
        else {
            onProblem?("Face the camera")
            return
        }
        onFace?(FaceAligner.align(image, landmarks))
    }

    /// Eye centres and the inner-lip centre (dlib's mouth point), in top-left pixel coordinates.
    /// Vision's eye names are not relied on: the eye on the image's left is the subject's right.
    private static func landmarks(of face: VNFaceObservation, width: Int, height: Int) -> FaceLandmarks? {
        guard let marks = face.landmarks,
              let eyeA = marks.leftEye, let eyeB = marks.rightEye, let lips = marks.innerLips
        else { return nil }
        let size = CGSize(width: width, height: height)
        func center(_ region: VNFaceLandmarkRegion2D) -> PixelPoint? {
            let points = region.pointsInImage(imageSize: size)
            guard !points.isEmpty else { return nil }
            let x = points.reduce(0.0) { $0 + Double($1.x) } / Double(points.count)
            let y = points.reduce(0.0) { $0 + Double($1.y) } / Double(points.count)
            // Vision's origin is the bottom-left corner.
            return PixelPoint(x: x, y: Double(height) - y)
        }
        guard let a = center(eyeA), let b = center(eyeB), let mouth = center(lips) else { return nil }
        let (imageLeft, imageRight) = a.x <= b.x ? (a, b) : (b, a)
        return FaceLandmarks(rightEye: imageLeft, leftEye: imageRight, mouthCenter: mouth)
    }

    /// The frame's BGRA bytes.
    private static func pixels(of buffer: CVPixelBuffer) -> PixelImage? {
        CVPixelBufferLockBaseAddress(buffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        guard let base = CVPixelBufferGetBaseAddress(buffer) else { return nil }
        let width = CVPixelBufferGetWidth(buffer)
        let height = CVPixelBufferGetHeight(buffer)
        let bytesPerRow = CVPixelBufferGetBytesPerRow(buffer)
        let bytes = [UInt8](UnsafeRawBufferPointer(start: base, count: bytesPerRow * height))
        return PixelImage(width: width, height: height, bytesPerRow: bytesPerRow, bytes: bytes, channelOffsets: (2, 1, 0))
    }
}
