import Foundation

/// dlib's decision threshold on the Euclidean distance between two face descriptors.
public let dlibThreshold = 0.6

/// The outcome of one verification.
public struct Match: Equatable, Sendable {
    /// Euclidean distance between the probe and the enrolled template.
    public let distance: Double
    /// Whether the distance is below `threshold`: the same person.
    public let isMatch: Bool
    /// The threshold used.
    public let threshold: Double
}

/// Why a verification could not run.
public enum EnrollmentError: Error, Equatable {
    /// Nobody is enrolled yet.
    case notEnrolled
    /// The descriptor does not fit the template (another model?) or holds NaN/infinity.
    case badDescriptor(String)
}

/// Euclidean distance between two descriptors of the same length (in doubles).
public func euclidean(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "descriptors of \(a.count) and \(b.count) values")
    var sum = 0.0
    for (x, y) in zip(a, b) {
        let d = Double(x) - Double(y)
        sum += d * d
    }
    return sum.squareRoot()
}

/// One enrolled person, as in the Rust pipeline (`tandem_faceid::Enrollment`) and the Android
/// app: the template is the mean enrolled descriptor; a probe matches when its Euclidean
/// distance to it is below `threshold` (dlib's 0.6).
public struct Enrollment: Codable, Equatable, Sendable {
    private var sum: [Double] = []

    /// Number of enrolled descriptors.
    public private(set) var count = 0

    /// The decision threshold.
    public var threshold: Double

    public init(threshold: Double = dlibThreshold) {
        self.threshold = threshold
    }

    /// Whether nobody is enrolled.
    public var isEmpty: Bool { count == 0 }

    /// Adds one face's descriptor to the template.
    public mutating func add(_ descriptor: [Float]) throws {
        guard !descriptor.isEmpty, descriptor.allSatisfy({ $0.isFinite }) else {
            throw EnrollmentError.badDescriptor("a descriptor needs finite values")
        }
        if count == 0 {
            sum = [Double](repeating: 0, count: descriptor.count)
        } else if descriptor.count != sum.count {
            throw EnrollmentError.badDescriptor("\(descriptor.count) values, expected \(sum.count)")
        }
        for (i, v) in descriptor.enumerated() {
            sum[i] += Double(v)
        }
        count += 1
    }

    /// The template (the mean descriptor), or `nil` before enrolling.
    public var template: [Float]? {
        count == 0 ? nil : sum.map { Float($0 / Double(count)) }
    }

    /// Compares a probe with the template.
    public func verify(_ descriptor: [Float]) throws -> Match {
        guard let template else { throw EnrollmentError.notEnrolled }
        guard descriptor.count == template.count else {
            throw EnrollmentError.badDescriptor("\(descriptor.count) values, expected \(template.count)")
        }
        let distance = euclidean(template, descriptor)
        return Match(distance: distance, isMatch: distance < threshold, threshold: threshold)
    }

    /// Forgets everyone.
    public mutating func clear() {
        sum = []
        count = 0
    }
}

/// Keeps the enrollment in one app-private file, protected while the phone is locked. A
/// descriptor is biometric data: a production app would also keep it in the Keychain.
public struct EnrollmentStore: Sendable {
    private let url: URL

    public init(url: URL) {
        self.url = url
    }

    /// The saved enrollment, or an empty one if there is none or it is unreadable.
    public func load() -> Enrollment {
        guard let data = try? Data(contentsOf: url),
              let saved = try? JSONDecoder().decode(Enrollment.self, from: data)
        else { return Enrollment() }
        return saved
    }

    /// Saves `enrollment` atomically.
    public func save(_ enrollment: Enrollment) throws {
        let data = try JSONEncoder().encode(enrollment)
        try data.write(to: url, options: [.atomic, .completeFileProtection])
    }

    /// Deletes the saved enrollment.
    public func clear() {
        try? FileManager.default.removeItem(at: url)
    }
}
