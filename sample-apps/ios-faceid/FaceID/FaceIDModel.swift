import Foundation
import TandemKit

/// Enroll or unlock.
enum Screen {
    case enroll
    case unlock
}

/// The app's logic, kept thin: the Tandem SDK decides where each embedding runs (and falls back
/// to the phone offline); `Enrollment` decides who matches. This class wires the camera's faces
/// to them and keeps what the screen shows.
@MainActor
final class FaceIDModel: ObservableObject {
    @Published private(set) var screen: Screen = .unlock
    @Published private(set) var ready = false
    @Published private(set) var error: String?
    @Published private(set) var status = "Loading the model…"
    @Published private(set) var enrolled = 0
    @Published private(set) var attempts: [Attempt] = []
    /// The SDK's one-line summary of its latest request (its `reports` stream).
    @Published private(set) var lastReport: String?

    /// The camera: its faces come back to `submit(_:)`.
    let camera = CameraController()

    private var tandem: Tandem?
    private var enrollment: Enrollment
    private let store: EnrollmentStore
    private var busy = false
    private var lastFaceAt = Date.distantPast
    private var reportsTask: Task<Void, Never>?

    private static let enrollShots = 3
    private static let gap: TimeInterval = 0.7
    private static let maxAttempts = 20

    init() {
        let dir = FileManager.default.urls(for: .applicationSupportDirectory, in: .userDomainMask)[0]
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        store = EnrollmentStore(url: dir.appendingPathComponent("enrollment.json"))
        enrollment = store.load()
        camera.onFace = { [weak self] chip in
            Task { @MainActor in self?.submit(chip) }
        }
        camera.onProblem = { [weak self] message in
            Task { @MainActor in self?.show(problem: message) }
        }
        Task { await load() }
    }

    /// Loads the SDK off the main actor, then starts the camera.
    private func load() async {
        guard let url = Bundle.main.url(forResource: "face_embedder", withExtension: "onnx") else {
            error = "face_embedder.onnx is missing from the app bundle"
            return
        }
        do {
            let client = try await Task.detached(priority: .userInitiated) {
                try Tandem(model: url, edge: FaceIDModel.edge(), policy: FaceIDModel.policy())
            }.value
            tandem = client
            ready = true
            show(enrollment.isEmpty ? .enroll : .unlock)
            reportsTask = Task { [weak self] in
                for await report in client.reports {
                    self?.lastReport = report.summary
                }
            }
            camera.start()
        } catch {
            self.error = "Cannot load the face model: \(error.localizedDescription)"
        }
    }

    /// Shows the enroll or the unlock screen; enrolling again starts a new template.
    func show(_ next: Screen) {
        if next == .enroll {
            enrollment.clear()
            store.clear()
        }
        screen = next
        enrolled = enrollment.count
        status = FaceIDModel.prompt(next)
    }

    private func show(problem: String) {
        if ready && !busy {
            status = problem
        }
    }

    /// One aligned face chip from the camera.
    private func submit(_ chip: [Float]) {
        guard let tandem, !busy, Date().timeIntervalSince(lastFaceAt) >= FaceIDModel.gap else { return }
        busy = true
        lastFaceAt = Date()
        camera.paused = true
        Task {
            defer {
                busy = false
                camera.paused = false
            }
            let size = FaceAligner.chipSize
            let input = Tensor.float32(chip, shape: [1, 3, size, size])
            do {
                let result = try await tandem.infer(input)
                guard let descriptor = result.outputs["descriptor"]?.floats else { return }
                try record(descriptor, result.report)
            } catch {
                status = "Could not read the face: \(error.localizedDescription)"
            }
        }
    }

    private func record(_ descriptor: [Float], _ report: Report) throws {
        switch screen {
        case .enroll:
            try enrollment.add(descriptor)
            let attempt = report.attempt(kind: .enroll, match: nil)
            if enrollment.count >= FaceIDModel.enrollShots {
                try store.save(enrollment)
                append(attempt, screen: .unlock, status: "Enrolled. " + FaceIDModel.prompt(.unlock))
            } else {
                append(attempt, screen: .enroll, status: "Enrolling: \(enrollment.count)/\(FaceIDModel.enrollShots), turn your head a little")
            }
        case .unlock:
            guard !enrollment.isEmpty else {
                show(.enroll)
                return
            }
            let attempt = report.attempt(kind: .unlock, match: try enrollment.verify(descriptor))
            append(attempt, screen: .unlock, status: attempt.headline)
        }
    }

    private func append(_ attempt: Attempt, screen next: Screen, status text: String) {
        screen = next
        status = text
        enrolled = enrollment.count
        attempts = Array(([attempt] + attempts).prefix(FaceIDModel.maxAttempts))
    }

    private static func prompt(_ screen: Screen) -> String {
        switch screen {
        case .enroll: return "Enroll: look at the camera"
        case .unlock: return "Look at the camera to unlock"
        }
    }

    /// Fast unlocks; `keepRawInputOnDevice` keeps the face chip, and everything as revealing as
    /// it, on the phone: the SDK computes the floor from the model's graph (for
    /// face_embedder.onnx, after its first convolution, past the mean subtraction and the
    /// division that only shift and scale the pixels; `tandem.modelInfo.privacyFloor`).
    nonisolated static func policy() -> Policy {
        Policy.latency(deadlineMs: 300, keepRawInputOnDevice: true)
    }

    /// The edge from Info.plist (`TandemEdgeURL`, `TandemEdgeToken`, set from the build
    /// settings); none: everything runs on the phone.
    nonisolated static func edge() -> EdgeEndpoint? {
        guard let value = Bundle.main.object(forInfoDictionaryKey: "TandemEdgeURL") as? String,
              !value.isEmpty, let url = URL(string: value)
        else { return nil }
        let token = Bundle.main.object(forInfoDictionaryKey: "TandemEdgeToken") as? String
        return EdgeEndpoint(url: url, token: (token?.isEmpty ?? true) ? nil : token)
    }
}
