//! Full-text product search with tantivy. The index is derived from the store: it holds only
//! the searchable text and the product id, it is updated (and committed) on every product write
//! before the write is answered, and it is rebuilt when it is missing, damaged, or behind the
//! store (its commit carries the store's catalog generation).
//!
//! Matching, per word of the query (every word must match somewhere):
//! - the whole word in the title (strongest), brand, category, tags or description;
//! - the word inside a longer word ("phone" in "iPhone", "smartphones", "headphones");
//! - the word with one typo (a wrong, missing or extra letter, or two neighbours swapped).
//!   Whole words and titles rank above partial matches.
//!
//! Parts of words and typos are resolved against the vocabulary of the catalog (every distinct
//! indexed word, kept in memory) into plain term queries. tantivy's regex and fuzzy queries do the
//! same through automata, but compiling them cost ~5 ms per search on this machine against ~0.1 ms
//! for a scan of the vocabulary.

use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tantivy::query::{BooleanQuery, BoostQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::products::Product;

const WRITER_MEMORY: usize = 20_000_000;
const MAX_WORDS: usize = 8;
/// At most this many longer words, and this many typo matches, per query word.
const MAX_EXPANSIONS: usize = 64;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    brand: Field,
    category: Field,
    tags: Field,
    description: Field,
}

/// The matches of one query, best first, and (once a request asked for them unfiltered) the
/// facet counts over all of them. Valid until the next product write.
#[derive(Default)]
pub struct Hits {
    pub list: Vec<(u64, f32)>,
    /// Counted on first use.
    pub facets: std::sync::OnceLock<HitCounts>,
}

/// Per category, per brand, and in all: the active products among the hits.
pub type HitCounts = (BTreeMap<String, u64>, BTreeMap<String, u64>, usize);

const CACHED_QUERIES: usize = 1024;

pub struct Search {
    /// Recent queries' matches; emptied by every write to the index.
    cache: Mutex<HashMap<String, Arc<Hits>>>,
    /// Counts index writes: a search that ran across one does not fill the cache.
    epoch: std::sync::atomic::AtomicU64,
    /// Searches answered from the cache, and run on the index (for /metrics).
    cache_hits: std::sync::atomic::AtomicU64,
    cache_misses: std::sync::atomic::AtomicU64,
    /// The version of each product the index holds, so that an older copy arriving late from a
    /// concurrent writer never replaces a newer one.
    versions: Mutex<HashMap<u64, u64>>,
    /// Every distinct word in the index (words only ever join: a word that left the catalog
    /// just matches nothing).
    vocabulary: RwLock<BTreeSet<String>>,
    index: Index,
    reader: IndexReader,
    /// Made on the first write: an idle shop does not carry the writer's memory arena.
    writer: Mutex<Option<IndexWriter>>,
    fields: Fields,
    dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct SearchError(String);

fn err(e: impl std::fmt::Display) -> SearchError {
    SearchError(e.to_string())
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST),
        title: b.add_text_field("title", text.clone()),
        brand: b.add_text_field("brand", text.clone()),
        category: b.add_text_field("category", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        description: b.add_text_field("description", text),
    };
    (b.build(), fields)
}

/// Lowercase alphanumeric words, as the default tokenizer makes them.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .take(MAX_WORDS)
        .collect()
}

impl Search {
    /// Opens the index in `dir`, creating it (empty) when missing. A damaged index is removed
    /// and created anew; the caller then rebuilds it (its generation is `None`).
    pub fn open(dir: &Path) -> Result<Search, SearchError> {
        std::fs::create_dir_all(dir).map_err(err)?;
        let (schema, fields) = schema();
        let index = match Index::open_in_dir(dir) {
            Ok(index) if index.schema() == schema => index,
            Ok(_) | Err(_) if dir.join("meta.json").exists() => {
                tracing::warn!(dir = %dir.display(), "the search index is damaged or from another version; rebuilding it");
                std::fs::remove_dir_all(dir).map_err(err)?;
                std::fs::create_dir_all(dir).map_err(err)?;
                Index::create_in_dir(dir, schema).map_err(err)?
            }
            _ => Index::create_in_dir(dir, schema).map_err(err)?,
        };
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        Ok(Search {
            cache: Mutex::new(HashMap::new()),
            cache_hits: Default::default(),
            cache_misses: Default::default(),
            epoch: Default::default(),
            versions: Mutex::new(HashMap::new()),
            vocabulary: RwLock::new(BTreeSet::new()),
            index,
            reader,
            writer: Mutex::new(None),
            fields,
            dir: dir.to_path_buf(),
        })
    }

    /// The catalog generation of the last commit (`None` for a new or damaged index).
    pub fn generation(&self) -> Option<u64> {
        self.index.load_metas().ok()?.payload?.parse().ok()
    }

    /// Adds the words of products to the vocabulary (the index itself persists; the vocabulary
    /// is rebuilt from the catalog at start).
    pub fn learn<'a>(&self, products: impl Iterator<Item = &'a Product>) {
        let mut vocabulary = self.vocabulary.write();
        for p in products.filter(|p| p.is_active) {
            let texts = [p.title.as_str(), p.brand.as_str(), p.category.as_str(), p.description.as_str()];
            for w in texts.into_iter().chain(p.tags.iter().map(String::as_str)).flat_map(tokens) {
                if !vocabulary.contains(&w) {
                    vocabulary.insert(w);
                }
            }
        }
    }

    /// Fills the vocabulary from the index's own term dictionaries: at start this is much
    /// cheaper than tokenizing every product again.
    pub fn learn_from_index(&self) -> Result<(), SearchError> {
        let f = self.fields;
        let searcher = self.reader.searcher();
        let mut vocabulary = self.vocabulary.write();
        for segment in searcher.segment_readers() {
            for field in [f.title, f.brand, f.category, f.tags, f.description] {
                let index = segment.inverted_index(field).map_err(err)?;
                let mut terms = index.terms().stream().map_err(err)?;
                while terms.advance() {
                    if let Ok(word) = std::str::from_utf8(terms.key())
                        && !vocabulary.contains(word)
                    {
                        vocabulary.insert(word.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    fn document(&self, p: &Product) -> TantivyDocument {
        let f = self.fields;
        let mut d = doc!(
            f.id => p.id,
            f.title => p.title.clone(),
            f.brand => p.brand.clone(),
            f.category => p.category.replace('-', " "),
            f.description => p.description.clone(),
        );
        for t in &p.tags {
            d.add_text(f.tags, t);
        }
        d
    }

    fn writer<'a>(&self, slot: &'a mut Option<IndexWriter>) -> Result<&'a mut IndexWriter, SearchError> {
        if slot.is_none() {
            *slot = Some(self.index.writer_with_num_threads(1, WRITER_MEMORY).map_err(err)?);
        }
        Ok(slot.as_mut().expect("made above"))
    }

    fn commit(&self, writer: &mut IndexWriter, generation: u64) -> Result<(), SearchError> {
        let mut prepared = writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map_err(err)?;
        self.reader.reload().map_err(err)?;
        self.forget_cached();
        Ok(())
    }

    fn forget_cached(&self) {
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cache.lock().clear();
    }

    /// Mirrors committed product writes (inactive products leave the index). Blocking: call it
    /// from a blocking thread.
    pub fn put(&self, products: &[Product], generation: u64) -> Result<(), SearchError> {
        self.forget_cached();
        self.learn(products.iter());
        let mut slot = self.writer.lock();
        let writer = self.writer(&mut slot)?;
        let fresh: Vec<&Product> = {
            let mut versions = self.versions.lock();
            products
                .iter()
                .filter(|p| {
                    let newer = versions.get(&p.id).is_none_or(|v| *v <= p.version);
                    if newer {
                        versions.insert(p.id, p.version);
                    }
                    newer
                })
                .collect()
        };
        for p in fresh {
            writer.delete_term(Term::from_field_u64(self.fields.id, p.id));
            if p.is_active {
                writer.add_document(self.document(p)).map_err(err)?;
            }
        }
        self.commit(writer, generation)
    }

    /// Replaces the whole index with `products`, calling `progress` after each one.
    pub fn rebuild<'a>(
        &self,
        products: impl Iterator<Item = &'a Product>,
        generation: u64,
        progress: impl Fn(u64),
    ) -> Result<u64, SearchError> {
        let mut slot = self.writer.lock();
        let writer = self.writer(&mut slot)?;
        writer.delete_all_documents().map_err(err)?;
        self.vocabulary.write().clear();
        self.versions.lock().clear();
        let mut n = 0;
        for p in products {
            self.learn(std::iter::once(p));
            self.versions.lock().insert(p.id, p.version);
            if p.is_active {
                writer.add_document(self.document(p)).map_err(err)?;
            }
            n += 1;
            progress(n);
        }
        self.commit(writer, generation)?;
        // A rebuild runs at start-up: its writer (threads, memory arena) waits for no write.
        *slot = None;
        Ok(n)
    }

    /// The indexed words a query word stands for, in three groups with their weights: itself
    /// (10), words that contain it (1), words one typo away (0.5).
    fn expand(&self, word: &str) -> [(Vec<String>, f32); 3] {
        let vocabulary = self.vocabulary.read();
        let len = word.chars().count();
        let mut inside: Vec<String> = Vec::new();
        if len >= 3 {
            let mut found: Vec<&String> =
                vocabulary.iter().filter(|v| v.len() > word.len() && v.contains(word)).collect();
            // Closest first: "phones" before "headphones" before "microphones".
            found.sort_by_key(|v| v.len());
            inside = found.into_iter().take(MAX_EXPANSIONS).cloned().collect();
        }
        let mut typos: Vec<String> = Vec::new();
        if len >= 4 {
            let found = vocabulary.iter().filter(|v| v.as_str() != word && one_edit_apart(word, v));
            typos = found.take(MAX_EXPANSIONS).cloned().collect();
        }
        [(vec![word.to_string()], 10.0), (inside, 1.0), (typos, 0.5)]
    }

    /// Counts index changes: a search answer made at one value holds while it does.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Searches answered from the cache, and run on the index.
    pub fn cache_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.cache_hits.load(Relaxed), self.cache_misses.load(Relaxed))
    }

    /// Every match of `text` as `(product id, score)`, best first (then by id); repeated
    /// queries come from a cache that every index write empties.
    pub fn search(&self, text: &str) -> Result<Arc<Hits>, SearchError> {
        let key = words(text).join(" ");
        use std::sync::atomic::Ordering::Relaxed;
        if let Some(hits) = self.cache.lock().get(&key) {
            self.cache_hits.fetch_add(1, Relaxed);
            return Ok(hits.clone());
        }
        self.cache_misses.fetch_add(1, Relaxed);
        let epoch = self.epoch.load(std::sync::atomic::Ordering::SeqCst);
        let mut list = self.run(&key)?;
        list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let hits = Arc::new(Hits { list, facets: Default::default() });
        let mut cache = self.cache.lock();
        // Only results from an index that did not change meanwhile are kept.
        if self.epoch.load(std::sync::atomic::Ordering::SeqCst) == epoch {
            if cache.len() >= CACHED_QUERIES {
                cache.clear();
            }
            cache.insert(key, hits.clone());
        }
        Ok(hits)
    }

    fn run(&self, text: &str) -> Result<Vec<(u64, f32)>, SearchError> {
        let f = self.fields;
        let weighted = [(f.title, 3.0), (f.brand, 2.0), (f.category, 1.5), (f.tags, 1.5), (f.description, 1.0)];
        let mut per_word: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in words(text) {
            // A word scores by its best kind of match (whole word, part of a word, typo), with a
            // little of the others: many partial matches must not outrank one whole word.
            let mut kinds: Vec<Box<dyn Query>> = Vec::new();
            for (terms, weight) in self.expand(&word) {
                let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for term in &terms {
                    for (field, field_weight) in weighted {
                        let q = TermQuery::new(Term::from_field_text(field, term), IndexRecordOption::WithFreqs);
                        any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), weight * field_weight))));
                    }
                }
                if !any.is_empty() {
                    kinds.push(Box::new(BooleanQuery::new(any)));
                }
            }
            per_word.push((Occur::Must, Box::new(DisjunctionMaxQuery::with_tie_breaker(kinds, 0.1))));
        }
        if per_word.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        searcher.search(&BooleanQuery::new(per_word), &AllMatches).map_err(err)
    }

    /// Whether the index answers.
    pub fn is_healthy(&self) -> bool {
        self.dir.join("meta.json").exists() && self.index.load_metas().is_ok()
    }

    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// The words of a text as the index has them.
fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty() && w.len() <= 40).map(str::to_lowercase)
}

/// Whether `b` is `a` with one letter wrong, missing or extra, or two neighbours swapped. Runs
/// against every word of the vocabulary per query word, so it allocates nothing for ASCII words
/// (copying both into `Vec<char>`s was most of a new query's cost).
fn one_edit_apart(a: &str, b: &str) -> bool {
    // A char is at most 4 bytes: words more than 4 bytes apart are more than one letter apart.
    if a.len().abs_diff(b.len()) > 4 {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return one_edit(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    one_edit(&a, &b)
}

fn one_edit<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    match a.len() as isize - b.len() as isize {
        0 => {
            let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) else { return false };
            let swapped = i + 1 < a.len() && a[i] == b[i + 1] && a[i + 1] == b[i] && a[i + 2..] == b[i + 2..];
            a[i + 1..] == b[i + 1..] || swapped
        }
        1 | -1 => {
            let (long, short) = if a.len() > b.len() { (a, b) } else { (b, a) };
            let first = (0..short.len()).find(|&i| long[i] != short[i]).unwrap_or(short.len());
            long[first + 1..] == short[first..]
        }
        _ => false,
    }
}

/// Collects every matching document as (product id, score).
struct AllMatches;

struct SegmentMatches {
    ids: tantivy::columnar::Column<u64>,
    found: Vec<(u64, f32)>,
}

impl tantivy::collector::Collector for AllMatches {
    type Fruit = Vec<(u64, f32)>;
    type Child = SegmentMatches;

    fn for_segment(&self, _: u32, segment: &tantivy::SegmentReader) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches { ids: segment.fast_fields().u64("id")?, found: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(u64, f32)>>) -> tantivy::Result<Vec<(u64, f32)>> {
        Ok(fruits.concat())
    }
}

impl tantivy::collector::SegmentCollector for SegmentMatches {
    type Fruit = Vec<(u64, f32)>;

    fn collect(&mut self, doc: tantivy::DocId, score: tantivy::Score) {
        if let Some(id) = self.ids.first(doc) {
            self.found.push((id, score));
        }
    }

    fn harvest(self) -> Vec<(u64, f32)> {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::one_edit_apart;

    #[test]
    fn one_edit() {
        for (a, b) in [
            ("iphone", "iphnoe"),
            ("iphone", "iphon"),
            ("iphone", "iphonee"),
            ("iphone", "ipohne"),
            ("phone", "phono"),
            ("café", "cafe"),
            ("crème", "crèm"),
            ("żółw", "żółe"),
            ("müsli", "mülsi"),
        ] {
            assert!(one_edit_apart(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("iphone", "iphone"),
            ("iphone", "ihpnoe"),
            ("phone", "pho"),
            ("phone", "xyz"),
            ("café", "cafes"),
            ("żółw", "żółw"),
            ("abcdefgh", "ab"),
        ] {
            assert!(!one_edit_apart(a, b), "{a} {b}");
        }
    }
}
