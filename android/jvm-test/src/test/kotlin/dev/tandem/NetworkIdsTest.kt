package dev.tandem

import dev.tandem.planner.CellularGen
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The network id scheme shared with iOS: stable per network, distinct between networks. */
class NetworkIdsTest {
    @Test
    fun `Wi-Fi ids come from the SSID, else the BSSID, else the gateway, else the subnet`() {
        val home = NetworkIds.wifi("\"Home\"", "aa:bb:cc:dd:ee:ff", "192.168.1.1", "192.168.1.0/24")
        assertEquals(home, NetworkIds.wifi("Home", null, "10.0.0.1", null), "Android quotes SSIDs; same network")
        assertTrue(home.startsWith("wifi:s:"), home)
        assertFalse(home.contains("Home"), "the SSID itself never appears")
        assertNotEquals(home, NetworkIds.wifi("Office", null, null, null))
        // no location permission: Android redacts SSID and BSSID
        val redacted = NetworkIds.wifi("<unknown ssid>", "02:00:00:00:00:00", "192.168.1.1", "192.168.1.0/24")
        assertTrue(redacted.startsWith("wifi:g:"), redacted)
        assertEquals(redacted, NetworkIds.wifi(null, null, "192.168.1.1", null))
        assertNotEquals(redacted, NetworkIds.wifi(null, null, "192.168.2.1", null))
        assertTrue(NetworkIds.wifi(null, "AA:BB:CC:DD:EE:FF", null, null).startsWith("wifi:b:"))
        assertTrue(NetworkIds.wifi(null, null, null, "10.1.0.0/16").startsWith("wifi:n:"))
        assertEquals("wifi:?", NetworkIds.wifi(null, null, "", null))
    }

    @Test
    fun `cellular ids are the operator code and the radio`() {
        assertEquals("cellular:20801:lte", NetworkIds.cellular("20801", CellularGen.LTE))
        // iOS 16+ answers 65535 for a hidden operator
        assertEquals("cellular:?:5g", NetworkIds.cellular("65535", CellularGen.G5))
        assertEquals("cellular:?:?", NetworkIds.cellular(null, CellularGen.UNKNOWN))
        assertEquals("cellular:?:3g", NetworkIds.cellular("", CellularGen.G3))
    }

    @Test
    fun `subnets are masked network addresses`() {
        assertEquals("192.168.1.0/24", NetworkIds.subnet(byteArrayOf(192.toByte(), 168.toByte(), 1, 77), 24))
        assertEquals("10.16.0.0/12", NetworkIds.subnet(byteArrayOf(10, 31, 200.toByte(), 1), 12))
        assertEquals("ethernet:?", NetworkIds.ethernet(null, null))
    }
}
