import XCTest
@testable import TandemKit

/// Runs on an iOS simulator (`xcodebuild test -scheme Tandem -destination 'platform=iOS
/// Simulator,name=iPhone 15'`) after `scripts/build-xcframework.sh`. The simulator reads the
/// repository's model straight from the Mac's file system.
final class TandemTests: XCTestCase {
    private let model = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .appendingPathComponent("../../../models/tiny_resnet.onnx")
        .standardizedFileURL

    private func input() -> Tensor {
        let values = (0..<(3 * 32 * 32)).map { Float(($0 % 97) - 48) / 48 }
        return .float32(values, shape: [1, 3, 32, 32])
    }

    func testLocalInference() async throws {
        let tandem = try Tandem(model: model, policy: .latency(), signals: FixedSignals(.wifi))
        let result = try await tandem.infer(input())
        let logits = try XCTUnwrap(result.outputs["logits"])
        XCTAssertEqual(logits.dims, [1, 10])
        XCTAssertTrue(try XCTUnwrap(logits.floats).allSatisfy { $0.isFinite })
        XCTAssertFalse(result.report.offloaded)
        XCTAssertFalse(result.report.summary.isEmpty)
    }

    func testOfflineSignalsKeepThePlanOnThePhone() async throws {
        let edge = EdgeEndpoint(url: "http://127.0.0.1:9", token: nil)
        let tandem = try Tandem(model: model, edge: edge, signals: FixedSignals(.offline))
        let report = try await tandem.infer(input()).report
        XCTAssertFalse(report.plan.offloads)
        XCTAssertEqual(report.network, .offline)
    }

    func testBadInputIsATypedError() async throws {
        let tandem = try Tandem(model: model, signals: FixedSignals(.wifi))
        do {
            _ = try await tandem.infer(.float32([1, 2, 3], shape: [1, 3]))
            XCTFail("a tensor of the wrong shape must be refused")
        } catch TandemError.invalidInput(let reason) {
            XCTAssertFalse(reason.isEmpty)
        }
    }

    func testNetworkIdsFollowTheSharedScheme() {
        let home = NetworkIds.wifi(ssid: "Home", bssid: nil, gateway: nil, subnet: "192.168.1.0/24")
        XCTAssertTrue(home.hasPrefix("wifi:s:"))
        XCTAssertEqual(home, "wifi:s:" + NetworkIds.hash("Home"))
        XCTAssertEqual(NetworkIds.subnet([192, 168, 1, 77], prefixLength: 24), "192.168.1.0/24")
        XCTAssertEqual(NetworkIds.cellular(operatorCode: "65535", generation: .lte), "cellular:?:lte")
    }

    func testPolicyPresetsComeFromRust() {
        let policy = Policy.balanced(deadlineMs: 150, keepRawInputOnDevice: true)
        XCTAssertEqual(policy.objective, .balanced)
        XCTAssertEqual(policy.deadlineMs, 150)
        XCTAssertTrue(policy.keepRawInputOnDevice)
        XCTAssertEqual(policy.encodings, [.fp32, .fp16, .int8, .int8Channel, .int8Lz4, .int8Zstd, .int4Zstd, .jpeg])
    }
}

/// Signals fixed by the test.
private final class FixedSignals: PlatformSignalsProvider {
    private let network: NetworkKind

    init(_ network: NetworkKind) {
        self.network = network
    }

    func currentState() throws -> PlatformState {
        PlatformState(network: network, networkId: "test", metered: false, batteryLevel: 0.8,
                      charging: true, lowPower: false, thermal: .nominal)
    }
}
