package dev.tandem.android

import android.util.Log
import dev.tandem.LogLevel
import dev.tandem.LogRecord
import dev.tandem.LogSink

/** Sends Tandem's Rust log lines to Logcat under the tag `Tandem`. */
object LogcatSink : LogSink {
    private const val TAG = "Tandem"

    override fun log(record: LogRecord) {
        val priority = when (record.level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        Log.println(priority, TAG, "${record.target}: ${record.message}")
    }
}
