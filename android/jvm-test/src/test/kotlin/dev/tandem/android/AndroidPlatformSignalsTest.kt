package dev.tandem.android

import android.content.Context
import android.net.ConnectivityManager
import android.net.NetworkCapabilities
import android.os.BatteryManager
import android.os.PowerManager
import android.telephony.TelephonyManager
import dev.tandem.planner.CellularGen
import dev.tandem.planner.NetworkKind
import dev.tandem.planner.ThermalState
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.RuntimeEnvironment
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowNetwork
import org.robolectric.shadows.ShadowNetworkCapabilities

/** The Android signals mapping, on Robolectric's Android 14 (the framework's real classes). */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [34], manifest = Config.NONE)
class AndroidPlatformSignalsTest {
    private val context: Context = RuntimeEnvironment.getApplication()
    private val connectivity = context.getSystemService(ConnectivityManager::class.java)

    private fun capabilities(transport: Int, notMetered: Boolean): NetworkCapabilities {
        val caps = ShadowNetworkCapabilities.newInstance()
        shadowOf(caps).addTransportType(transport)
        shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_INTERNET)
        if (notMetered) shadowOf(caps).addCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED)
        return caps
    }

    @Test
    fun `network callbacks drive the network kind and metering`() {
        AndroidPlatformSignals(context).use { signals ->
            val callbacks = shadowOf(connectivity).networkCallbacks
            assertEquals("one default-network callback", 1, callbacks.size)
            val network = ShadowNetwork.newInstance(42)

            callbacks.forEach {
                it.onCapabilitiesChanged(network, capabilities(NetworkCapabilities.TRANSPORT_WIFI, notMetered = true))
            }
            val wifi = signals.currentState()
            assertEquals(NetworkKind.Wifi, wifi.network)
            assertFalse(wifi.metered)
            assertTrue(wifi.networkId, wifi.networkId.startsWith("wifi:"))

            callbacks.forEach {
                it.onCapabilitiesChanged(network, capabilities(NetworkCapabilities.TRANSPORT_CELLULAR, notMetered = false))
            }
            val cellular = signals.currentState()
            // READ_PHONE_STATE is not granted: the generation is unknown, not guessed
            assertEquals(NetworkKind.Cellular(CellularGen.UNKNOWN), cellular.network)
            assertTrue(cellular.metered)

            callbacks.forEach { it.onLost(network) }
            assertEquals(NetworkKind.Offline, signals.currentState().network)
        }
        assertTrue("close unregisters the callback", shadowOf(connectivity).networkCallbacks.isEmpty())
    }

    /** The id of a network survives reconnection (a new handle): the bandwidth history too. */
    @Test
    fun `network ids are stable across reconnections`() {
        shadowOf(context.getSystemService(TelephonyManager::class.java)).setNetworkOperator("20801")
        AndroidPlatformSignals(context).use { signals ->
            val callbacks = shadowOf(connectivity).networkCallbacks
            val ids = listOf(42, 43).map { handle ->
                val network = ShadowNetwork.newInstance(handle)
                callbacks.forEach {
                    it.onCapabilitiesChanged(network, capabilities(NetworkCapabilities.TRANSPORT_WIFI, notMetered = true))
                }
                val id = signals.currentState().networkId
                callbacks.forEach { it.onLost(network) }
                id
            }
            assertEquals("the same Wi-Fi after a reconnection", ids[0], ids[1])
            assertFalse(ids[0], ids[0].contains("42"))
            assertTrue(ids[0], ids[0].startsWith("wifi:"))
            callbacks.forEach {
                it.onCapabilitiesChanged(ShadowNetwork.newInstance(44), capabilities(NetworkCapabilities.TRANSPORT_CELLULAR, notMetered = false))
            }
            // no READ_PHONE_STATE: the operator code, radio unknown
            assertEquals("cellular:20801:?", signals.currentState().networkId)
        }
    }

    @Test
    fun `the cellular generation is read when the permission is granted`() {
        shadowOf(RuntimeEnvironment.getApplication()).grantPermissions(android.Manifest.permission.READ_PHONE_STATE)
        shadowOf(context.getSystemService(TelephonyManager::class.java))
            .setDataNetworkType(TelephonyManager.NETWORK_TYPE_LTE)
        AndroidPlatformSignals(context).use { signals ->
            val network = ShadowNetwork.newInstance(7)
            shadowOf(connectivity).networkCallbacks.forEach {
                it.onCapabilitiesChanged(network, capabilities(NetworkCapabilities.TRANSPORT_CELLULAR, notMetered = false))
            }
            assertEquals(NetworkKind.Cellular(CellularGen.LTE), signals.currentState().network)
        }
    }

    @Test
    fun `battery and power come from BatteryManager and PowerManager`() {
        val battery = shadowOf(context.getSystemService(BatteryManager::class.java))
        battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY, 37)
        battery.setIsCharging(false)
        val power = shadowOf(context.getSystemService(PowerManager::class.java))
        power.setIsPowerSaveMode(true)
        power.setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)

        AndroidPlatformSignals(context).use { signals ->
            val state = signals.currentState()
            assertEquals(0.37f, state.batteryLevel!!, 1e-6f)
            assertEquals(false, state.charging)
            assertTrue(state.lowPower)
            assertEquals(ThermalState.SERIOUS, state.thermal)

            battery.setIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY, Int.MIN_VALUE)
            battery.setIsCharging(true)
            power.setIsPowerSaveMode(false)
            power.setCurrentThermalStatus(PowerManager.THERMAL_STATUS_NONE)
            val later = signals.currentState()
            assertNull("an unsupported capacity is unknown", later.batteryLevel)
            assertEquals(true, later.charging)
            assertFalse(later.lowPower)
            assertEquals(ThermalState.NOMINAL, later.thermal)
        }
    }

    @Test
    fun `radio generations and thermal statuses map onto Tandem's levels`() {
        assertEquals(CellularGen.G2, cellularGenerationOf(TelephonyManager.NETWORK_TYPE_EDGE))
        assertEquals(CellularGen.G3, cellularGenerationOf(TelephonyManager.NETWORK_TYPE_HSPAP))
        assertEquals(CellularGen.LTE, cellularGenerationOf(TelephonyManager.NETWORK_TYPE_LTE))
        assertEquals(CellularGen.G5, cellularGenerationOf(TelephonyManager.NETWORK_TYPE_NR))
        assertEquals(CellularGen.UNKNOWN, cellularGenerationOf(TelephonyManager.NETWORK_TYPE_UNKNOWN))
        assertEquals(ThermalState.FAIR, thermalStateOf(PowerManager.THERMAL_STATUS_MODERATE))
        assertEquals(ThermalState.CRITICAL, thermalStateOf(PowerManager.THERMAL_STATUS_SHUTDOWN))
        assertEquals(ThermalState.UNKNOWN, thermalStateOf(-1))
    }
}
