//! Reads a Linux host's settings and says what to change for a thread-per-core broker.
//! (Being built: issue 8.)
