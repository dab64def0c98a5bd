package dev.tandem.android

import android.Manifest
import android.annotation.SuppressLint
import android.content.Context
import android.content.pm.PackageManager
import android.net.ConnectivityManager
import android.net.LinkProperties
import android.net.Network
import android.net.NetworkCapabilities
import android.net.wifi.WifiInfo
import java.net.Inet4Address
import android.os.BatteryManager
import android.os.Build
import android.os.PowerManager
import android.telephony.TelephonyManager
import dev.tandem.planner.CellularGen
import dev.tandem.planner.NetworkKind
import dev.tandem.NetworkIds
import dev.tandem.PlatformSignalsProvider
import dev.tandem.planner.PlatformState
import dev.tandem.planner.ThermalState

/**
 * The phone's state from Android's own services, for the planner:
 * - network: the default network from [ConnectivityManager] callbacks (transport Wi-Fi,
 *   cellular or Ethernet; metered unless `NOT_METERED`), the cellular generation from
 *   [TelephonyManager.getDataNetworkType] when `READ_PHONE_STATE` is granted (else unknown);
 * - battery: [BatteryManager] capacity and charging;
 * - power: [PowerManager] battery saver, and the thermal status on API 29+.
 *
 * - network id: stable per network, the scheme of [NetworkIds]: Wi-Fi by SSID (BSSID) hash
 *   when `ACCESS_FINE_LOCATION` is granted and location is on, else by the default gateway
 *   (else the subnet) from [LinkProperties]; cellular by operator code (MCC-MNC) and radio.
 *
 * [currentState] is called on every request from a Tandem thread: the network comes from a
 * snapshot the callbacks keep up to date; battery and power are cheap binder calls.
 * Needs `ACCESS_NETWORK_STATE` (declared by this library). [close] unregisters the callback.
 */
class AndroidPlatformSignals(context: Context) : PlatformSignalsProvider, AutoCloseable {
    private val appContext: Context = context.applicationContext ?: context
    private val connectivity = appContext.getSystemService(ConnectivityManager::class.java)
    private val battery = appContext.getSystemService(BatteryManager::class.java)
    private val power = appContext.getSystemService(PowerManager::class.java)
    private val telephony = appContext.getSystemService(TelephonyManager::class.java)

    @Volatile
    private var network: NetworkSnapshot = NetworkSnapshot.UNKNOWN

    // API 31+ redacts the Wi-Fi SSID in callbacks unless asked for (and permitted); the
    // constructor with flags exists from API 31 only
    private val callback: Callback = if (Build.VERSION.SDK_INT >= 31 && locationGranted()) {
        Callback(ConnectivityManager.NetworkCallback.FLAG_INCLUDE_LOCATION_INFO)
    } else {
        Callback()
    }

    private inner class Callback : ConnectivityManager.NetworkCallback {
        constructor() : super()

        @android.annotation.TargetApi(31)
        constructor(flags: Int) : super(flags)

        override fun onCapabilitiesChanged(network: Network, capabilities: NetworkCapabilities) {
            this@AndroidPlatformSignals.network = snapshot(network, capabilities)
        }

        override fun onLinkPropertiesChanged(network: Network, linkProperties: LinkProperties) {
            val caps = try {
                connectivity?.getNetworkCapabilities(network)
            } catch (e: SecurityException) {
                null
            } ?: return
            this@AndroidPlatformSignals.network = snapshot(network, caps, linkProperties)
        }

        override fun onLost(network: Network) {
            this@AndroidPlatformSignals.network = NetworkSnapshot.OFFLINE
        }
    }

    /** Whether [callback] keeps [network] up to date; if not, each request reads it anew. */
    @Volatile
    private var registered = false

    init {
        network = currentNetwork()
        registered = try {
            connectivity?.registerDefaultNetworkCallback(callback)
            connectivity != null
        } catch (e: RuntimeException) {
            // SecurityException without ACCESS_NETWORK_STATE, or too many callbacks
            false
        }
    }

    override fun currentState(): PlatformState {
        val net = if (registered) network else currentNetwork()
        return PlatformState(
            network = net.kind,
            networkId = net.id,
            metered = net.metered,
            batteryLevel = batteryLevel(),
            charging = battery?.isCharging,
            lowPower = power?.isPowerSaveMode ?: false,
            thermal = thermal(),
        )
    }

    override fun close() {
        if (registered) {
            registered = false
            try {
                connectivity?.unregisterNetworkCallback(callback)
            } catch (e: IllegalArgumentException) {
                // already unregistered
            }
        }
    }

    private fun currentNetwork(): NetworkSnapshot {
        val cm = connectivity ?: return NetworkSnapshot.UNKNOWN
        return try {
            val active = cm.activeNetwork ?: return NetworkSnapshot.OFFLINE
            val caps = cm.getNetworkCapabilities(active) ?: return NetworkSnapshot.OFFLINE
            snapshot(active, caps)
        } catch (e: SecurityException) {
            NetworkSnapshot.UNKNOWN
        }
    }

    private fun snapshot(
        network: Network,
        caps: NetworkCapabilities,
        link: LinkProperties? = linkProperties(network),
    ): NetworkSnapshot {
        val kind = when {
            caps.hasTransport(NetworkCapabilities.TRANSPORT_WIFI) -> NetworkKind.Wifi
            caps.hasTransport(NetworkCapabilities.TRANSPORT_ETHERNET) -> NetworkKind.Ethernet
            caps.hasTransport(NetworkCapabilities.TRANSPORT_CELLULAR) -> NetworkKind.Cellular(cellularGeneration())
            else -> NetworkKind.Unknown
        }
        val notMetered = caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_NOT_METERED) ||
            (Build.VERSION.SDK_INT >= 30 &&
                caps.hasCapability(NetworkCapabilities.NET_CAPABILITY_TEMPORARILY_NOT_METERED))
        // Stable across reconnections (never the per-connection handle); hashed, never the SSID.
        val gateway = link?.routes?.firstOrNull { it.isDefaultRoute && it.hasGateway() }?.gateway?.hostAddress
        val subnet = link?.linkAddresses?.firstOrNull { it.address is Inet4Address }
            ?.let { NetworkIds.subnet(it.address.address, it.prefixLength) }
        val id = when (kind) {
            is NetworkKind.Wifi -> {
                val wifi = if (Build.VERSION.SDK_INT >= 29) caps.transportInfo as? WifiInfo else null
                NetworkIds.wifi(wifi?.ssid, wifi?.bssid, gateway, subnet)
            }
            is NetworkKind.Cellular -> NetworkIds.cellular(operatorCode(), kind.generation)
            is NetworkKind.Ethernet -> NetworkIds.ethernet(gateway, subnet)
            else -> "${kindName(kind)}:?"
        }
        return NetworkSnapshot(kind, id, metered = !notMetered)
    }

    private fun linkProperties(network: Network): LinkProperties? = try {
        connectivity?.getLinkProperties(network)
    } catch (e: SecurityException) {
        null
    }

    /** MCC+MNC of the registered operator: public, no permission needed. */
    private fun operatorCode(): String? = try {
        telephony?.networkOperator
    } catch (e: SecurityException) {
        null
    }

    private fun locationGranted(): Boolean =
        appContext.checkSelfPermission(Manifest.permission.ACCESS_FINE_LOCATION) == PackageManager.PERMISSION_GRANTED

    /** The radio generation, when the app may read it (`READ_PHONE_STATE`); else unknown. */
    @SuppressLint("MissingPermission") // checked just below
    private fun cellularGeneration(): CellularGen {
        val tm = telephony ?: return CellularGen.UNKNOWN
        val granted = appContext.checkSelfPermission(Manifest.permission.READ_PHONE_STATE) ==
            PackageManager.PERMISSION_GRANTED
        if (!granted) return CellularGen.UNKNOWN
        return try {
            cellularGenerationOf(tm.dataNetworkType)
        } catch (e: SecurityException) {
            CellularGen.UNKNOWN
        }
    }

    private fun batteryLevel(): Float? {
        val percent = battery?.getIntProperty(BatteryManager.BATTERY_PROPERTY_CAPACITY) ?: return null
        // Integer.MIN_VALUE (or 0 on some emulators without a battery) when unsupported
        return if (percent in 1..100) percent / 100f else null
    }

    private fun thermal(): ThermalState =
        if (Build.VERSION.SDK_INT >= 29 && power != null) {
            thermalStateOf(power.currentThermalStatus)
        } else {
            ThermalState.UNKNOWN
        }

    private data class NetworkSnapshot(val kind: NetworkKind, val id: String, val metered: Boolean) {
        companion object {
            val UNKNOWN = NetworkSnapshot(NetworkKind.Unknown, "", metered = false)
            val OFFLINE = NetworkSnapshot(NetworkKind.Offline, "", metered = false)
        }
    }
}

private fun kindName(kind: NetworkKind): String = when (kind) {
    is NetworkKind.Wifi -> "wifi"
    is NetworkKind.Ethernet -> "ethernet"
    is NetworkKind.Cellular -> "cellular"
    is NetworkKind.Offline -> "offline"
    is NetworkKind.Unknown -> "unknown"
}

/** A [TelephonyManager] `NETWORK_TYPE_*` as a radio generation. */
internal fun cellularGenerationOf(networkType: Int): CellularGen = when (networkType) {
    TelephonyManager.NETWORK_TYPE_GPRS,
    TelephonyManager.NETWORK_TYPE_EDGE,
    TelephonyManager.NETWORK_TYPE_CDMA,
    TelephonyManager.NETWORK_TYPE_1xRTT,
    TelephonyManager.NETWORK_TYPE_IDEN,
    TelephonyManager.NETWORK_TYPE_GSM,
    -> CellularGen.G2

    TelephonyManager.NETWORK_TYPE_UMTS,
    TelephonyManager.NETWORK_TYPE_EVDO_0,
    TelephonyManager.NETWORK_TYPE_EVDO_A,
    TelephonyManager.NETWORK_TYPE_EVDO_B,
    TelephonyManager.NETWORK_TYPE_HSDPA,
    TelephonyManager.NETWORK_TYPE_HSUPA,
    TelephonyManager.NETWORK_TYPE_HSPA,
    TelephonyManager.NETWORK_TYPE_EHRPD,
    TelephonyManager.NETWORK_TYPE_HSPAP,
    TelephonyManager.NETWORK_TYPE_TD_SCDMA,
    -> CellularGen.G3

    TelephonyManager.NETWORK_TYPE_LTE -> CellularGen.LTE
    TelephonyManager.NETWORK_TYPE_NR -> CellularGen.G5
    else -> CellularGen.UNKNOWN
}

/**
 * A [PowerManager] `THERMAL_STATUS_*` in the four levels Tandem shares with iOS: none is
 * nominal, light and moderate are fair (no visible throttling yet), severe is serious,
 * critical and beyond are critical.
 */
internal fun thermalStateOf(status: Int): ThermalState = when (status) {
    PowerManager.THERMAL_STATUS_NONE -> ThermalState.NOMINAL
    PowerManager.THERMAL_STATUS_LIGHT, PowerManager.THERMAL_STATUS_MODERATE -> ThermalState.FAIR
    PowerManager.THERMAL_STATUS_SEVERE -> ThermalState.SERIOUS
    PowerManager.THERMAL_STATUS_CRITICAL,
    PowerManager.THERMAL_STATUS_EMERGENCY,
    PowerManager.THERMAL_STATUS_SHUTDOWN,
    -> ThermalState.CRITICAL

    else -> ThermalState.UNKNOWN
}
