package dev.tandem

import dev.tandem.planner.NetworkKind
import dev.tandem.planner.PlatformState
import dev.tandem.planner.ThermalState
import java.util.concurrent.atomic.AtomicInteger

/** Platform signals a test sets by hand: the Kotlin implementation of the Rust trait. */
class FakeSignals(network: NetworkKind) : PlatformSignalsProvider {
    @Volatile
    var state = PlatformState(
        network = network,
        networkId = "test-network",
        metered = false,
        batteryLevel = 0.8f,
        charging = true,
        lowPower = false,
        thermal = ThermalState.NOMINAL,
    )

    /** How often Rust asked. */
    val calls = AtomicInteger()

    override fun currentState(): PlatformState {
        calls.incrementAndGet()
        return state
    }
}
