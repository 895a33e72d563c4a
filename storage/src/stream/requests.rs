//! Pages a system asked for: absent pages it reached and needs loaded.

/// Absent pages that systems reached this frame and want loaded, in page
/// order: written by the systems that read past the resident world (the
/// phase pass's pressure columns), read by streaming, which loads them in
/// a later frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageRequests {
    /// Page indices.
    pub pages: Vec<usize>,
}
