package dev.tandem.faceid

import android.app.Application
import android.os.SystemClock
import androidx.lifecycle.AndroidViewModel
import androidx.lifecycle.viewModelScope
import dev.tandem.EdgeEndpoint
import dev.tandem.planner.Policy
import dev.tandem.Tandem
import dev.tandem.TandemException
import dev.tandem.model.Tensor
import dev.tandem.android.create
import dev.tandem.faceid.core.Attempt
import dev.tandem.faceid.core.EnrollmentStore
import dev.tandem.faceid.core.FaceAligner
import dev.tandem.float32
import dev.tandem.get
import dev.tandem.latency
import dev.tandem.toFloatArray
import java.io.File
import java.util.concurrent.atomic.AtomicBoolean
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/** Enroll or unlock. */
enum class Screen { ENROLL, UNLOCK }

/** Everything the UI shows. */
data class UiState(
    val screen: Screen = Screen.UNLOCK,
    /** The SDK is loaded and the camera may feed faces. */
    val ready: Boolean = false,
    /** A problem the user cannot fix by moving (model missing...). */
    val error: String? = null,
    /** The big line: "Look at the camera", "Unlocked", "Not you", "No face"... */
    val status: String = "Loading the model…",
    /** Faces enrolled in the current template. */
    val enrolled: Int = 0,
    /** The latest attempts, newest first. */
    val attempts: List<Attempt> = emptyList(),
    /** The SDK's one-line summary of its latest request (its `reports` flow). */
    val lastReport: String? = null,
)

/**
 * The app's logic, kept thin: the SDK decides where each embedding runs (and falls back to the
 * phone offline); [dev.tandem.faceid.core.Enrollment] decides who matches. This class only
 * wires the camera's faces to them and keeps the screen state.
 */
class FaceIdViewModel(app: Application) : AndroidViewModel(app) {
    private val _state = MutableStateFlow(UiState())

    /** The screen state. */
    val state: StateFlow<UiState> = _state.asStateFlow()

    private val store = EnrollmentStore(File(app.filesDir, "enrollment.bin"))
    private val enrollment = store.load()
    private var tandem: Tandem? = null
    private val busy = AtomicBoolean(false)

    @Volatile
    private var lastFaceAt = 0L

    init {
        viewModelScope.launch {
            try {
                // create suspends while the model loads (on the IO dispatcher); copying the model
                // out of the APK is file work too
                val model = withContext(Dispatchers.IO) { ModelFiles.embedder(getApplication()) }
                val client = Tandem.create(getApplication(), model = model, edge = edge(), policy = POLICY)
                tandem = client
                val screen = if (enrollment.isEmpty) Screen.ENROLL else Screen.UNLOCK
                _state.update { it.copy(ready = true, screen = screen, enrolled = enrollment.count, status = prompt(screen)) }
                // A live overlay of what the SDK does, from its flow of reports.
                client.reports.collect { report -> _state.update { it.copy(lastReport = report.summary) } }
            } catch (e: TandemException) {
                _state.update { it.copy(error = "Cannot load the face model: ${e.message}") }
            } catch (e: java.io.IOException) {
                _state.update { it.copy(error = "Cannot install the face model: ${e.message}") }
            }
        }
    }

    /**
     * Whether the analyzer should look for a face in the next frame: the SDK is ready, no face
     * is being processed and the next attempt is due. Otherwise frames are dropped unread.
     */
    fun wantsFace(): Boolean =
        _state.value.ready && !busy.get() && SystemClock.elapsedRealtime() - lastFaceAt >= GAP_MS

    /** Called by the camera analyzer (any thread) with one aligned face chip. */
    fun onFace(chip: FloatArray) {
        val now = SystemClock.elapsedRealtime()
        // One attempt per GAP_MS: enrollment gets varied shots, unlock does not spin.
        if (now - lastFaceAt < GAP_MS || !busy.compareAndSet(false, true)) return
        lastFaceAt = now
        viewModelScope.launch {
            try {
                process(chip)
            } finally {
                busy.set(false)
            }
        }
    }

    /** Called by the camera analyzer when a frame has no usable face. */
    fun onProblem(message: String) {
        if (!busy.get()) _state.update { if (it.ready) it.copy(status = message) else it }
    }

    /** Shows the enroll or the unlock screen; enrolling again starts a new template. */
    fun show(screen: Screen) {
        if (screen == Screen.ENROLL) {
            enrollment.clear()
            store.clear()
        }
        _state.update { it.copy(screen = screen, enrolled = enrollment.count, status = prompt(screen)) }
    }

    private suspend fun process(chip: FloatArray) {
        val client = tandem ?: return
        val input = Tensor.float32(chip, intArrayOf(1, 3, FaceAligner.CHIP_SIZE, FaceAligner.CHIP_SIZE))
        val result = try {
            client.infer(input)
        } catch (e: TandemException) {
            _state.update { it.copy(status = "Could not read the face: ${e.message}") }
            return
        }
        val descriptor = result.outputs["descriptor"]?.toFloatArray() ?: return
        when (_state.value.screen) {
            Screen.ENROLL -> {
                enrollment.add(descriptor)
                val attempt = result.report.toAttempt(Attempt.Kind.ENROLL, null)
                if (enrollment.count >= ENROLL_SHOTS) {
                    withContext(Dispatchers.IO) { store.save(enrollment) }
                    record(attempt, Screen.UNLOCK, "Enrolled. ${prompt(Screen.UNLOCK)}")
                } else {
                    record(attempt, Screen.ENROLL, "Enrolling: ${enrollment.count}/$ENROLL_SHOTS, turn your head a little")
                }
            }
            Screen.UNLOCK -> {
                if (enrollment.isEmpty) {
                    _state.update { it.copy(screen = Screen.ENROLL, status = prompt(Screen.ENROLL)) }
                    return
                }
                val attempt = result.report.toAttempt(Attempt.Kind.UNLOCK, enrollment.verify(descriptor))
                record(attempt, Screen.UNLOCK, attempt.headline)
            }
        }
    }

    private fun record(attempt: Attempt, screen: Screen, status: String) {
        _state.update {
            it.copy(
                screen = screen,
                status = status,
                enrolled = enrollment.count,
                attempts = (listOf(attempt) + it.attempts).take(MAX_ATTEMPTS),
            )
        }
    }

    override fun onCleared() {
        tandem?.close()
    }

    private companion object {
        const val ENROLL_SHOTS = 3
        const val GAP_MS = 700L
        const val MAX_ATTEMPTS = 20

        /**
         * Fast unlocks; `keepRawInputOnDevice` keeps the face chip, and everything as revealing
         * as it, on the phone: the SDK computes the floor from the model's graph (for
         * face_embedder.onnx, after its first convolution, past the mean subtraction and the
         * division that only shift and scale the pixels; `tandem.modelInfo.privacyFloor`).
         */
        val POLICY: Policy = Policy.latency(deadlineMs = 300, keepRawInputOnDevice = true)

        fun prompt(screen: Screen): String = when (screen) {
            Screen.ENROLL -> "Enroll: look at the camera"
            Screen.UNLOCK -> "Look at the camera to unlock"
        }

        /**
         * The edge from the build (gradle properties tandem.edgeUrl, tandem.edgeToken and, for a
         * development edge with a self-signed certificate, tandem.edgeCaFile: a PEM file read at
         * build time); none: all on the phone.
         */
        fun edge(): EdgeEndpoint? = BuildConfig.EDGE_URL.takeIf { it.isNotBlank() }?.let {
            EdgeEndpoint(
                url = it,
                token = BuildConfig.EDGE_TOKEN.ifBlank { null },
                caPem = BuildConfig.EDGE_CA_PEM.ifBlank { null },
            )
        }
    }
}
