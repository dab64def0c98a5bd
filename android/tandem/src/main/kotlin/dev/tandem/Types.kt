// The generated records, enums and errors that make up Tandem's public Kotlin API, under the
// package apps import (`dev.tandem`). The generated package `dev.tandem.ffi` is an
// implementation detail: its low-level `TandemClient` is wrapped by [Tandem].
@file:Suppress("unused")

package dev.tandem

/** A named tensor: name, element type, shape and little-endian bytes. */
typealias Tensor = dev.tandem.ffi.Tensor

/** Element type of a tensor (`FP32`, `UINT8`, ...). */
typealias DType = dev.tandem.ffi.DType

/** Name, element type and shape of a model input or output. */
typealias TensorSpec = dev.tandem.ffi.TensorSpec

/** A model's identity, inputs and outputs. */
typealias ModelInfo = dev.tandem.ffi.ModelInfo

/** The edge server to offload to: URL, bearer token, optional private CA. */
typealias EdgeEndpoint = dev.tandem.ffi.EdgeEndpoint

/** What every plan must respect: objective, deadline, privacy floor, metered data. */
typealias Policy = dev.tandem.ffi.Policy

/** What the planner optimises. */
typealias Objective = dev.tandem.ffi.Objective

/** How the tensors crossing a cut are encoded on the wire. */
typealias Encoding = dev.tandem.ffi.Encoding

/** Per-request overrides (forced cut, encoding, deadline), for experts and tests. */
typealias InferOptions = dev.tandem.ffi.InferOptions

/** The outputs of one request and its [Report]. */
typealias InferResult = dev.tandem.ffi.InferResult

/** What one request did: plan, times, bytes, energy, and why it fell back if it did. */
typealias Report = dev.tandem.ffi.Report

/** The planner's decision: cut, encoding, tiers, predicted costs and why. */
typealias Plan = dev.tandem.ffi.Plan

/** Where a part of the model runs. */
typealias Tier = dev.tandem.ffi.Tier

/** Why a request that could have used the edge ran on the phone. */
typealias FallbackReason = dev.tandem.ffi.FallbackReason

/** What the client knows about its edge. */
typealias EdgeStatus = dev.tandem.ffi.EdgeStatus

/** The phone's network, battery and thermal state, as the planner reads it. */
typealias PlatformState = dev.tandem.ffi.PlatformState

/** The kind of network traffic goes through. */
typealias NetworkKind = dev.tandem.ffi.NetworkKind

/** Generation of a cellular radio. */
typealias CellularGen = dev.tandem.ffi.CellularGen

/** How hot the device is. */
typealias ThermalState = dev.tandem.ffi.ThermalState

/** Supplies [PlatformState]; the Android library implements it, tests may too. */
typealias PlatformSignalsProvider = dev.tandem.ffi.PlatformSignalsProvider

/** Severity of a log record from Tandem's Rust code. */
typealias LogLevel = dev.tandem.ffi.LogLevel

/** One log line from Tandem's Rust code. */
typealias LogRecord = dev.tandem.ffi.LogRecord

/** Every error a Tandem call can throw; network faults are never among them. */
typealias TandemException = dev.tandem.ffi.TandemException
