package dev.tandem

import dev.tandem.planner.CellularGen
import java.security.MessageDigest

/**
 * Stable network ids: the key of the per-network bandwidth history, the same on every
 * reconnection to the same network, different between networks. The same scheme on Android
 * (`AndroidPlatformSignals`) and iOS (`ApplePlatformSignals`, Swift's `NetworkIds`):
 *
 * | network  | id | from |
 * |----------|----|------|
 * | Wi-Fi    | `wifi:s:<h>` | the SSID, where the app may read it |
 * | Wi-Fi    | `wifi:b:<h>` | the BSSID, where the SSID is hidden but the BSSID is readable |
 * | Wi-Fi    | `wifi:g:<h>` | the default gateway's address |
 * | Wi-Fi    | `wifi:n:<h>` | the interface's IPv4 subnet (`192.168.1.0/24`) |
 * | Wi-Fi    | `wifi:?` | nothing readable: every such Wi-Fi shares one history |
 * | cellular | `cellular:<mcc-mnc or ?>:<2g/3g/lte/5g/?>` | the operator code and the radio |
 * | Ethernet | `ethernet:g:<h>`, `ethernet:n:<h>`, `ethernet:?` | as Wi-Fi without the SSID |
 *
 * `<h>` is the first 16 hex digits of the SHA-256 of the text: a pseudonym kept on the phone,
 * not an anonymisation (a common SSID can be guessed back). Operator codes (MCC-MNC) are
 * public and written as they are.
 *
 * What each platform sees without extra permissions: Android reads the gateway and subnet
 * (`ACCESS_NETWORK_STATE`, declared by the library) and the operator code; the SSID and BSSID
 * need `ACCESS_FINE_LOCATION` with location on (API 29+), the radio generation
 * `READ_PHONE_STATE`. iOS reads the subnet (`getifaddrs`) and the radio
 * (`CTTelephonyNetworkInfo`); the SSID and BSSID need the Access Wi-Fi Information
 * entitlement plus location permission (`NEHotspotNetwork.fetchCurrent`); the operator code is
 * hidden since iOS 16 (`?`); the gateway is not readable on iOS (no public routing API), so
 * iOS falls from the SSID straight to the subnet.
 */
object NetworkIds {
    /** The Wi-Fi id from what is readable; `null` or blank means not readable. */
    fun wifi(ssid: String?, bssid: String?, gateway: String?, subnet: String?): String {
        val name = ssid?.trim()?.removeSurrounding("\"")?.takeUnless { it.isBlank() || it == UNKNOWN_SSID }
        val ap = bssid?.lowercase()?.takeUnless { it.isBlank() || it == NO_BSSID }
        return when {
            name != null -> "wifi:s:${hash(name)}"
            ap != null -> "wifi:b:${hash(ap)}"
            else -> wired("wifi", gateway, subnet)
        }
    }

    /** The Ethernet id (gateway, else subnet). */
    fun ethernet(gateway: String?, subnet: String?): String = wired("ethernet", gateway, subnet)

    /** The cellular id: operator code (`"20801"`, `null` when hidden) and radio generation. */
    fun cellular(operatorCode: String?, generation: CellularGen): String {
        // iOS 16+ answers 65535 for a hidden operator: a placeholder, not an operator
        val op = operatorCode?.filter { it.isDigit() }
            ?.takeIf { it.length in 5..6 && !it.startsWith("65535") } ?: "?"
        val radio = when (generation) {
            CellularGen.G2 -> "2g"
            CellularGen.G3 -> "3g"
            CellularGen.LTE -> "lte"
            CellularGen.G5 -> "5g"
            CellularGen.UNKNOWN -> "?"
        }
        return "cellular:$op:$radio"
    }

    /** The IPv4 or IPv6 network of [address] with [prefixLength] bits, e.g. `192.168.1.0/24`. */
    fun subnet(address: ByteArray, prefixLength: Int): String {
        val bits = prefixLength.coerceIn(0, address.size * 8)
        val masked = ByteArray(address.size) { i ->
            val keep = (bits - i * 8).coerceIn(0, 8)
            (address[i].toInt() and (0xff shl (8 - keep)) and 0xff).toByte()
        }
        val text = if (address.size == 4) {
            masked.joinToString(".") { (it.toInt() and 0xff).toString() }
        } else {
            masked.toList().chunked(2).joinToString(":") { "%x".format(((it[0].toInt() and 0xff) shl 8) or (it[1].toInt() and 0xff)) }
        }
        return "$text/$bits"
    }

    private fun wired(kind: String, gateway: String?, subnet: String?): String = when {
        !gateway.isNullOrBlank() -> "$kind:g:${hash(gateway)}"
        !subnet.isNullOrBlank() -> "$kind:n:${hash(subnet)}"
        else -> "$kind:?"
    }

    internal fun hash(text: String): String =
        MessageDigest.getInstance("SHA-256").digest(text.toByteArray(Charsets.UTF_8))
            .take(8).joinToString("") { "%02x".format(it) }

    /** What Android's `WifiInfo.getSSID` returns when the app may not read it. */
    private const val UNKNOWN_SSID = "<unknown ssid>"

    /** What Android's `WifiInfo.getBSSID` returns when the app may not read it. */
    private const val NO_BSSID = "02:00:00:00:00:00"
}
