//! Password hashing: Argon2id on a small pool of low-priority threads.
//!
//! A hash costs ~20 MiB and tens of milliseconds of CPU by design. Running them on the async
//! runtime would stall every other request; running an unbounded number at once would run the
//! process out of memory. So hashes run on a fixed number of dedicated threads (memory is bounded
//! by threads × m_cost), those threads run at a lower scheduling priority (a login storm uses the
//! spare CPU but cannot starve the request handlers), and the queue in front of them is bounded
//! (when it is full the client is told to retry instead of waiting forever).

use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::oneshot;

use crate::error::{ApiError, ErrorCode};

/// Argon2id cost parameters. The default is OWASP's recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Cost {
    fn default() -> Self {
        Cost { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

/// The hashing pool. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    queue: SyncSender<Job>,
    /// A hash of a random password, verified against when an email is unknown so that a login
    /// for a missing account costs the same time as one for a real account. Made on first use,
    /// on a pool thread, so that start-up does not pay for it.
    decoy: Arc<OnceLock<String>>,
}

impl Passwords {
    /// Starts `threads` hashing threads with room for `queue` waiting jobs.
    pub fn start(cost: Cost, threads: usize, queue: usize) -> Result<Passwords, String> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let (rx, argon) = (rx.clone(), argon.clone());
            std::thread::Builder::new()
                .name(format!("password-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&argon),
                            Err(_) => return, // the pool was dropped
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(Passwords { queue: tx, decoy: Arc::new(OnceLock::new()) })
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |argon| {
            let _ = tx.send(f(argon));
        });
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::new(ErrorCode::ServiceUnavailable)
                    .with_message("Too many sign-ins at once, please retry in a moment")
                    .with_header("retry-after", "1"));
            }
            Err(TrySendError::Disconnected(_)) => return Err(ApiError::internal("the password pool stopped")),
        }
        rx.await.map_err(|_| ApiError::internal("a password job was dropped"))
    }

    /// The PHC string (`$argon2id$v=19$m=...`) of a new password.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let password = password.to_string();
        self.run(move |argon| argon.hash_password(password.as_bytes()).map(|h| h.to_string()))
            .await?
            .map_err(|e| ApiError::internal(format!("argon2: {e}")))
    }

    /// Whether `password` matches `hash`; with `None` (no such account) checks the decoy, so
    /// that the answer takes as long and is always false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let known = hash.map(str::to_string);
        let decoy = self.decoy.clone();
        let password = password.to_string();
        self.run(move |argon| {
            let hash = match &known {
                Some(h) => h.as_str(),
                None => decoy.get_or_init(|| {
                    let random = uuid::Uuid::new_v4().to_string();
                    argon.hash_password(random.as_bytes()).map(|h| h.to_string()).unwrap_or_default()
                }),
            };
            known.is_some() && argon.verify_password(password.as_bytes(), hash).is_ok()
        })
        .await
    }
}

/// Hashing threads yield to the request handlers (nice 10; Linux applies it to this thread only).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_the_decoy_never_matches() {
        let pool = Passwords::start(Cost { memory_kib: 64, iterations: 1, parallelism: 1 }, 2, 8).unwrap();
        let hash = pool.hash("Secret123").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(pool.verify("Secret123", Some(&hash)).await.unwrap());
        assert!(!pool.verify("secret123", Some(&hash)).await.unwrap());
        assert!(!pool.verify("anything", None).await.unwrap());
    }
}
