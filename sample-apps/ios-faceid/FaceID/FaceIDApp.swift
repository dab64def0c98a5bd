import SwiftUI

/// The FaceID sample: enroll a face, then unlock with it; every attempt shows where the
/// embedding ran (the Tandem SDK's plan) and what it cost.
@main
struct FaceIDApp: App {
    @StateObject private var model = FaceIDModel()

    var body: some Scene {
        WindowGroup {
            ContentView(model: model)
        }
    }
}
