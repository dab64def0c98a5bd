// The Tandem Android library. Open this folder in Android Studio, or run `gradle :tandem:assembleRelease`
// (Gradle 8.11+; `gradle wrapper` creates ./gradlew). Needs the Android SDK with NDK r27+, a Rust
// toolchain with the Android targets, and cargo-ndk: see bindings/README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "tandem-android"
include(":tandem")
