import CryptoKit
import Foundation

/// Stable network ids, the same scheme as Kotlin's `dev.tandem.NetworkIds` (see its table):
/// `wifi:s:<h>` (SSID), `wifi:b:<h>` (BSSID), `wifi:g:<h>` (gateway), `wifi:n:<h>` (subnet),
/// `wifi:?`; `cellular:<mcc-mnc or ?>:<2g/3g/lte/5g/?>`; `ethernet:g|n:<h>`, `ethernet:?`.
/// `<h>` is the first 16 hex digits of the SHA-256 of the text: a pseudonym kept on the phone.
///
/// What iOS gives without extra permissions: the subnet (`getifaddrs`) and the radio
/// (`CTTelephonyNetworkInfo`). The SSID and BSSID need the Access Wi-Fi Information
/// entitlement and location permission (`NEHotspotNetwork.fetchCurrent`); the gateway has no
/// public API on iOS (so iOS goes from the SSID to the subnet); the operator code is hidden
/// since iOS 16.
public enum NetworkIds {
    /// The Wi-Fi id from what is readable; `nil` or empty means not readable.
    public static func wifi(ssid: String?, bssid: String?, gateway: String?, subnet: String?) -> String {
        if let name = ssid?.trimmingCharacters(in: .whitespaces), !name.isEmpty {
            return "wifi:s:\(hash(name))"
        }
        if let ap = bssid?.lowercased(), !ap.isEmpty, ap != "02:00:00:00:00:00" {
            return "wifi:b:\(hash(ap))"
        }
        return wired("wifi", gateway: gateway, subnet: subnet)
    }

    /// The Ethernet id (gateway, else subnet).
    public static func ethernet(gateway: String?, subnet: String?) -> String {
        wired("ethernet", gateway: gateway, subnet: subnet)
    }

    /// The cellular id: the operator code (`nil` when hidden) and the radio generation.
    public static func cellular(operatorCode: String?, generation: CellularGen) -> String {
        let digits = (operatorCode ?? "").filter(\.isNumber)
        let op = (5...6).contains(digits.count) && !digits.hasPrefix("65535") ? digits : "?"
        let radio: String
        switch generation {
        case .g2: radio = "2g"
        case .g3: radio = "3g"
        case .lte: radio = "lte"
        case .g5: radio = "5g"
        case .unknown: radio = "?"
        }
        return "cellular:\(op):\(radio)"
    }

    /// The IPv4 subnet of `address` (host order bytes) with `prefixLength` bits, e.g.
    /// `192.168.1.0/24`.
    public static func subnet(_ address: [UInt8], prefixLength: Int) -> String {
        let bits = max(0, min(prefixLength, address.count * 8))
        let masked = address.enumerated().map { index, byte -> UInt8 in
            let keep = max(0, min(8, bits - index * 8))
            return keep == 0 ? 0 : byte & UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return masked.map(String.init).joined(separator: ".") + "/\(bits)"
    }

    /// The IPv4 subnet of interface `name` (e.g. `en0`), from `getifaddrs`; `nil` if none.
    public static func subnet(ofInterface name: String) -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard String(cString: entry.pointee.ifa_name) == name,
                  let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == UInt8(AF_INET),
                  let mask = entry.pointee.ifa_netmask else { continue }
            let bytes = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
            }
            let prefix = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_addr.s_addr.nonzeroBitCount
            }
            return subnet(bytes, prefixLength: prefix)
        }
        return nil
    }

    private static func wired(_ kind: String, gateway: String?, subnet: String?) -> String {
        if let gateway, !gateway.isEmpty { return "\(kind):g:\(hash(gateway))" }
        if let subnet, !subnet.isEmpty { return "\(kind):n:\(hash(subnet))" }
        return "\(kind):?"
    }

    static func hash(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
