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

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngExt;
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

type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

/// One pool thread's hashing state: the parameters for new hashes and the Argon2 working memory,
/// allocated once and reused. Allocating ~19 MiB per hash either leaves it in the allocator's
/// per-thread heaps (a sign-in storm grew the process to ~250 MiB) or, when handed back to the
/// OS each time, costs ~5,000 page faults per hash (sign-ins/s fell from 52 to 29). Reusing it
/// bounds memory at threads × m_cost and keeps the speed.
struct Hasher {
    params: Params,
    memory: Vec<Block>,
}

impl Hasher {
    /// Gives the arena's pages back to the system between jobs: it stays allocated (no
    /// allocator churn), but a shop that signed in once does not keep the cost's worth of
    /// memory (19 MiB a thread at the default) resident forever. The next job faults the pages
    /// back in, about 1 ms against the hash's tens.
    fn release(&mut self) {
        #[cfg(target_os = "linux")]
        {
            let page = 4096usize;
            let start = self.memory.as_mut_ptr() as usize;
            let end = start + self.memory.len() * std::mem::size_of::<Block>();
            let (from, to) = (start.div_ceil(page) * page, end / page * page);
            if to > from {
                // SAFETY: the range lies inside the arena, which nothing borrows between jobs;
                // DONTNEED pages read back as zeros, and every job writes its blocks first.
                unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED) };
            }
        }
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.memory.len() < n {
            self.memory.resize(n, Block::default());
        }
        &mut self.memory[..n]
    }

    fn hash(&mut self, password: &[u8]) -> anyhow::Result<String> {
        let params = self.params.clone();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let salt: [u8; 16] = rand::rng().random();
        let mut out = [0u8; 32];
        argon.hash_password_into_with_memory(password, &salt, &mut out, self.blocks(&params))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(Salt::new(&salt)?),
            hash: Some(Output::new(&out)?),
        };
        Ok(phc.to_string())
    }

    /// Verifies against a PHC string with its own parameters (older hashes keep working when
    /// the configured cost changes).
    fn verify(&mut self, password: &[u8], phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else { return false };
        let (Ok(algorithm), Some(expected), Some(salt)) =
            (Algorithm::try_from(hash.algorithm.as_str()), hash.hash.as_ref(), hash.salt.as_ref())
        else {
            return false;
        };
        let version = hash.version.and_then(|v| Version::try_from(v).ok()).unwrap_or_default();
        let Ok(params) = Params::try_from(&hash) else { return false };
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut out = vec![0u8; expected.len()];
        if argon.hash_password_into_with_memory(password, salt.as_ref(), &mut out, self.blocks(&params)).is_err() {
            return false;
        }
        // Constant time: how much matches must not show in how long the answer takes.
        out.iter().zip(expected.as_bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

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
    pub fn start(cost: Cost, threads: usize, queue: usize) -> anyhow::Result<Passwords> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .context("invalid argon2 parameters")?;
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let (rx, params) = (rx.clone(), params.clone());
            std::thread::Builder::new().name(format!("password-{i}")).spawn(move || {
                lower_priority();
                let mut hasher = Hasher { params, memory: Vec::new() };
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => {
                            job(&mut hasher);
                            hasher.release();
                        }
                        Err(_) => return, // the pool was dropped
                    }
                }
            })?;
        }
        Ok(Passwords { queue: tx, decoy: Arc::new(OnceLock::new()) })
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Hasher) -> T + Send + 'static) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |hasher| {
            // The client gave up while the job waited: do not spend a hash on nobody.
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(f(hasher));
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
        self.run(move |h| h.hash(password.as_bytes())).await?.map_err(|e| ApiError::internal(format!("argon2: {e:#}")))
    }

    /// Whether `password` matches `hash`; with `None` (no such account) checks the decoy, so
    /// that the answer takes as long and is always false.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        let known = hash.map(str::to_string);
        let decoy = self.decoy.clone();
        let password = password.to_string();
        self.run(move |h| match &known {
            Some(phc) => h.verify(password.as_bytes(), phc),
            None => {
                let phc = decoy.get_or_init(|| h.hash(uuid::Uuid::new_v4().to_string().as_bytes()).unwrap_or_default());
                let _ = h.verify(password.as_bytes(), &phc.clone());
                false
            }
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

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let params = Params::new(64, 1, 1, None).unwrap();
        let mut ours = Hasher { params: params.clone(), memory: Vec::new() };
        let standard = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mine = ours.hash(b"Secret123").unwrap();
        assert!(standard.verify_password(b"Secret123", mine.as_str()).is_ok());
        let theirs = standard.hash_password(b"Other123").unwrap().to_string();
        assert!(ours.verify(b"Other123", &theirs));
        assert!(!ours.verify(b"other123", &theirs));
        // A hash made at another cost still verifies (the cost lives in the string).
        let heavier = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(256, 2, 1, None).unwrap());
        assert!(ours.verify(b"Old12345", &heavier.hash_password(b"Old12345").unwrap().to_string()));
        assert!(!ours.verify(b"x", "not a phc string"));
    }
}
