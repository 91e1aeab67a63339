//! Dependencies `/readyz` reports besides the database and the state store: each part of the
//! server that holds a connection of its own (the Socket.io adapter's link between instances,
//! presence) registers a probe here when it starts.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

pub type ProbeFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// One dependency's check; an error says what is wrong.
pub trait Probe: Send + Sync {
    fn check(&self) -> ProbeFuture<'_>;
}

/// The registered probes, by name (the key in `/readyz`'s `checks`).
#[derive(Default)]
pub struct Readiness {
    probes: RwLock<Vec<(&'static str, Arc<dyn Probe>)>>,
}

impl Readiness {
    pub fn register(&self, name: &'static str, probe: Arc<dyn Probe>) {
        self.probes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push((name, probe));
    }

    pub fn probes(&self) -> Vec<(&'static str, Arc<dyn Probe>)> {
        self.probes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
