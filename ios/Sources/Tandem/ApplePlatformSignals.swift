import Foundation
import Network
#if canImport(UIKit)
import UIKit
#endif
#if canImport(CoreTelephony)
import CoreTelephony
#endif
#if canImport(NetworkExtension) && os(iOS)
import NetworkExtension
#endif

/// The phone's state from Apple's own APIs, for the planner:
/// - network: `NWPathMonitor` (Wi-Fi, cellular or wired; metered when the path is expensive or
///   constrained by Low Data Mode), the cellular generation from CoreTelephony's current radio
///   access technology;
/// - battery: `UIDevice` battery level and state (monitoring is switched on);
/// - power and heat: `ProcessInfo` Low Power Mode and thermal state;
/// - network id: stable per network, the scheme of `NetworkIds`: Wi-Fi by SSID hash when the
///   app has the Access Wi-Fi Information entitlement and location permission
///   (`NEHotspotNetwork.fetchCurrent`), else by the interface's IPv4 subnet; cellular by
///   radio (the operator code is hidden since iOS 16).
///
/// `currentState()` is called on every request from a Tandem thread: it returns a snapshot the
/// monitors keep up to date and never blocks on the main actor.
public final class ApplePlatformSignals: PlatformSignalsProvider, @unchecked Sendable {
    // @unchecked Sendable: every mutable field below is guarded by `lock`.
    private let lock = NSLock()
    private var network = NetworkSnapshot.unknown
    private var batteryLevel: Float?
    private var charging: Bool?
    private let monitor = NWPathMonitor()
    private let queue = DispatchQueue(label: "dev.tandem.platform-signals")
    private var observers: [NSObjectProtocol] = []

    /// Starts monitoring the network now and the battery as soon as the main actor runs.
    public init() {
        monitor.pathUpdateHandler = { [weak self] path in
            let snapshot = NetworkSnapshot(path: path)
            self?.update { $0.network = snapshot }
            if case .wifi = snapshot.kind { self?.refineWithSSID(of: snapshot) }
        }
        monitor.start(queue: queue)
        #if canImport(UIKit) && !os(watchOS)
        Task { @MainActor [weak self] in self?.startBatteryMonitoring() }
        #endif
    }

    deinit {
        monitor.cancel()
    }

    /// Stops the monitors (the client calls it when it goes away).
    public func stop() {
        monitor.cancel()
        let observers = locked { () -> [NSObjectProtocol] in
            defer { self.observers = [] }
            return self.observers
        }
        observers.forEach { NotificationCenter.default.removeObserver($0) }
    }

    public func currentState() throws -> PlatformState {
        let (network, batteryLevel, charging) = locked { (self.network, self.batteryLevel, self.charging) }
        let process = ProcessInfo.processInfo
        return PlatformState(
            network: network.kind,
            networkId: network.id,
            metered: network.metered,
            batteryLevel: batteryLevel,
            charging: charging,
            lowPower: process.isLowPowerModeEnabled,
            thermal: ThermalState(process.thermalState)
        )
    }

    /// Replaces a Wi-Fi snapshot's subnet id with the SSID's when iOS lets the app read it
    /// (entitlement + location permission); without them `fetchCurrent` answers `nil`.
    private func refineWithSSID(of snapshot: NetworkSnapshot) {
        #if canImport(NetworkExtension) && os(iOS)
        NEHotspotNetwork.fetchCurrent { [weak self] hotspot in
            guard let hotspot, !hotspot.ssid.isEmpty else { return }
            let id = NetworkIds.wifi(ssid: hotspot.ssid, bssid: hotspot.bssid, gateway: nil, subnet: nil)
            self?.update { signals in
                // only if the path has not changed meanwhile
                if signals.network.id == snapshot.id { signals.network.id = id }
            }
        }
        #endif
    }

    private func update(_ change: (ApplePlatformSignals) -> Void) {
        locked { change(self) }
    }

    // NSLock.withLock needs iOS 16; this package supports iOS 15.
    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    #if canImport(UIKit) && !os(watchOS)
    @MainActor
    private func startBatteryMonitoring() {
        let device = UIDevice.current
        device.isBatteryMonitoringEnabled = true
        readBattery(device)
        let center = NotificationCenter.default
        let names = [UIDevice.batteryLevelDidChangeNotification, UIDevice.batteryStateDidChangeNotification]
        let added = names.map { name in
            center.addObserver(forName: name, object: nil, queue: .main) { [weak self] _ in
                Task { @MainActor in self?.readBattery(UIDevice.current) }
            }
        }
        locked { observers.append(contentsOf: added) }
    }

    @MainActor
    private func readBattery(_ device: UIDevice) {
        // batteryLevel is -1 when unknown (e.g. the simulator)
        let level: Float? = device.batteryLevel >= 0 ? device.batteryLevel : nil
        let charging: Bool?
        switch device.batteryState {
        case .charging, .full: charging = true
        case .unplugged: charging = false
        case .unknown: charging = nil
        @unknown default: charging = nil
        }
        update {
            $0.batteryLevel = level
            $0.charging = charging
        }
    }
    #endif
}

/// What the network monitor last said.
private struct NetworkSnapshot {
    var kind: NetworkKind
    var id: String
    var metered: Bool

    static let unknown = NetworkSnapshot(kind: .unknown, id: "", metered: false)

    init(kind: NetworkKind, id: String, metered: Bool) {
        self.kind = kind
        self.id = id
        self.metered = metered
    }

    init(path: NWPath) {
        guard path.status == .satisfied else {
            self.init(kind: .offline, id: "", metered: false)
            return
        }
        let kind: NetworkKind
        if path.usesInterfaceType(.wifi) {
            kind = .wifi
        } else if path.usesInterfaceType(.wiredEthernet) {
            kind = .ethernet
        } else if path.usesInterfaceType(.cellular) {
            kind = .cellular(generation: currentCellularGeneration())
        } else {
            kind = .unknown
        }
        // Stable per network (never the interface name, the same for every Wi-Fi): the subnet
        // here, refined to the SSID's hash where permitted (`refineWithSSID`).
        let interface = path.availableInterfaces.first { path.usesInterfaceType($0.type) }?.name
        let subnet = interface.flatMap { NetworkIds.subnet(ofInterface: $0) }
        let id: String
        switch kind {
        case .wifi: id = NetworkIds.wifi(ssid: nil, bssid: nil, gateway: nil, subnet: subnet)
        case .ethernet: id = NetworkIds.ethernet(gateway: nil, subnet: subnet)
        case .cellular(let generation): id = NetworkIds.cellular(operatorCode: nil, generation: generation)
        default: id = "\(kind.label):?"
        }
        self.init(kind: kind, id: id, metered: path.isExpensive || path.isConstrained)
    }
}

private extension NetworkKind {
    var label: String {
        switch self {
        case .wifi: return "wifi"
        case .cellular: return "cellular"
        case .ethernet: return "ethernet"
        case .offline: return "offline"
        case .unknown: return "unknown"
        }
    }
}

/// The radio generation of the data connection, from CoreTelephony (no permission needed).
private func currentCellularGeneration() -> CellularGen {
    #if canImport(CoreTelephony) && os(iOS) && !targetEnvironment(macCatalyst)
    let info = CTTelephonyNetworkInfo()
    let technology: String?
    if let id = info.dataServiceIdentifier {
        technology = info.serviceCurrentRadioAccessTechnology?[id]
    } else {
        technology = info.serviceCurrentRadioAccessTechnology?.values.first
    }
    guard let technology else { return .unknown }
    if #available(iOS 14.1, *), technology == CTRadioAccessTechnologyNR || technology == CTRadioAccessTechnologyNRNSA {
        return .g5
    }
    switch technology {
    case CTRadioAccessTechnologyLTE:
        return .lte
    case CTRadioAccessTechnologyWCDMA, CTRadioAccessTechnologyHSDPA, CTRadioAccessTechnologyHSUPA,
         CTRadioAccessTechnologyCDMAEVDORev0, CTRadioAccessTechnologyCDMAEVDORevA,
         CTRadioAccessTechnologyCDMAEVDORevB, CTRadioAccessTechnologyeHRPD:
        return .g3
    case CTRadioAccessTechnologyGPRS, CTRadioAccessTechnologyEdge, CTRadioAccessTechnologyCDMA1x:
        return .g2
    default:
        return .unknown
    }
    #else
    return .unknown
    #endif
}

extension ThermalState {
    /// `ProcessInfo`'s thermal state; the four levels are the same.
    init(_ state: ProcessInfo.ThermalState) {
        switch state {
        case .nominal: self = .nominal
        case .fair: self = .fair
        case .serious: self = .serious
        case .critical: self = .critical
        @unknown default: self = .unknown
        }
    }
}
