import AVFoundation
import SwiftUI

/// One screen: the camera, the enroll/unlock status, and the plan and latency of each attempt.
struct ContentView: View {
    @ObservedObject var model: FaceIDModel

    var body: some View {
        VStack(alignment: .leading, spacing: 8) {
            Text(model.screen == .enroll ? "Enroll" : "Unlock")
                .font(.largeTitle.bold())
            if let error = model.error {
                Text(error).foregroundColor(.red)
            } else {
                CameraPreview(session: model.camera.session)
                    .frame(height: 320)
                    .clipShape(RoundedRectangle(cornerRadius: 12))
            }
            Text(model.status).font(.title2)
            Text("Enrolled faces: \(model.enrolled)").font(.caption)
            if let report = model.lastReport {
                Text("SDK: \(report)").font(.caption).foregroundColor(.secondary)
            }
            HStack {
                Button("Unlock") { model.show(.unlock) }
                    .buttonStyle(.borderedProminent)
                    .disabled(!model.ready || model.enrolled == 0)
                Button("Enroll again") { model.show(.enroll) }
                    .buttonStyle(.bordered)
                    .disabled(!model.ready)
            }
            List(model.attempts) { attempt in
                VStack(alignment: .leading) {
                    Text(attempt.headline).font(.headline)
                    Text(attempt.detail).font(.caption)
                }
            }
            .listStyle(.plain)
        }
        .padding()
    }
}

/// The capture session's live preview.
struct CameraPreview: UIViewRepresentable {
    let session: AVCaptureSession

    func makeUIView(context: Context) -> PreviewView {
        let view = PreviewView()
        view.previewLayer.session = session
        view.previewLayer.videoGravity = .resizeAspectFill
        return view
    }

    func updateUIView(_ uiView: PreviewView, context: Context) {}

    /// A view whose backing layer is the preview layer.
    final class PreviewView: UIView {
        override class var layerClass: AnyClass { AVCaptureVideoPreviewLayer.self }

        var previewLayer: AVCaptureVideoPreviewLayer {
            // The layer class above guarantees the type.
            layer as! AVCaptureVideoPreviewLayer
        }
    }
}
