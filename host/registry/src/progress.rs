//! What registry reads and pushes tell while they run, for a progress display.
//!
//! [`crate::RemoteRegistries::set_progress`] installs a [`Progress`]; reads ahead
//! ([`crate::ImageSource::prefetch`]) report images read of the total, pushes
//! ([`crate::push_content`]) blobs and bytes. Nothing is reported when none is installed.

/// Receives the progress of registry work. Calls come from the registry's own threads, often
/// many times a second: implementations keep them cheap.
pub trait Progress: Send + Sync {
    /// `done` of `total` images (manifest and config) read ahead from `registry` (`host`, or
    /// `hosts` joined by `, ` when one batch reads from several).
    fn images_read(&self, registry: &str, done: usize, total: usize);

    /// A push to `target` (`host/repository:tag`) is under way: `blobs_done` of `blobs` blobs
    /// are there (uploaded or found already present), `bytes` uploaded of at most
    /// `total_bytes` (the size of every blob).
    fn pushing(&self, target: &str, state: PushProgress);

    /// The work reported so far ended (a read ahead or a push): the display can go.
    fn finished(&self);
}

/// How far a push is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushProgress {
    /// Blobs done (uploaded, or already in the repository).
    pub blobs_done: usize,
    /// Blobs in all (config and layers).
    pub blobs: usize,
    /// Bytes uploaded so far.
    pub bytes: u64,
    /// The size of every blob together: the most a push uploads.
    pub total_bytes: u64,
}
