import XCTest
@testable import FaceID

/// The platform-independent logic (no camera, no SDK): alignment, enrollment, formatting.
final class CoreTests: XCTestCase {
    func testTemplateMatchesDlibsChipPoints() {
        let t = FaceAligner.templatePx
        XCTAssertEqual(t[0].x, 47.733, accuracy: 1e-9)
        XCTAssertEqual(t[1].x, 100.281, accuracy: 1e-9)
        XCTAssertEqual(t[2].y, 105.0, accuracy: 1e-9)
    }

    func testSimilarityRecoversAKnownTransform() {
        let (a, b) = (1.7 * cos(0.3), 1.7 * sin(0.3))
        let src = [PixelPoint(x: 10, y: 20), PixelPoint(x: 50, y: 22), PixelPoint(x: 30, y: 70)]
        let dst = src.map { PixelPoint(x: a * $0.x - b * $0.y + 5, y: b * $0.x + a * $0.y - 7) }
        let m = FaceAligner.similarity(src, dst)
        for (got, want) in zip(m, [a, -b, 5, b, a, -7]) {
            XCTAssertEqual(got, want, accuracy: 1e-9)
        }
    }

    func testEnrollmentIsTheMeanWithAStrictThreshold() throws {
        var e = Enrollment()
        XCTAssertThrowsError(try e.verify([0, 1])) { XCTAssertEqual($0 as? EnrollmentError, .notEnrolled) }
        try e.add([0, 0])
        try e.add([1, 0])
        XCTAssertEqual(e.template, [0.5, 0])
        XCTAssertTrue(try e.verify([0.5, 0.5]).isMatch)
        XCTAssertFalse(try e.verify([0.5, 0.75]).isMatch)
        XCTAssertThrowsError(try e.add([1]))
    }

    func testAttemptFormatting() {
        let attempt = Attempt(
            kind: .unlock, match: Match(distance: 0.312, isMatch: true, threshold: 0.6), cut: 5,
            afterNode: "maxpool", offloaded: true, fallback: nil, network: "Wi-Fi",
            totalMs: 41.4, predictedMs: 39.6, bytesUp: 156_960, energyMj: 18.2
        )
        XCTAssertEqual(attempt.headline, "Unlocked")
        XCTAssertEqual(attempt.detail, "distance 0.31 · cut 5 (after maxpool) via Wi-Fi · 41 ms (predicted 40) · 157 KB up · 18 mJ")
        XCTAssertEqual(kilobytes(1_500), "1.5 KB")
    }
}
