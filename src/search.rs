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

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, RegexQuery, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::products::Product;

const WRITER_MEMORY: usize = 20_000_000;
const MAX_WORDS: usize = 8;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    title: Field,
    brand: Field,
    category: Field,
    tags: Field,
    description: Field,
}

pub struct Search {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
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
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY).map_err(err)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(err)?;
        Ok(Search { index, reader, writer: Mutex::new(writer), fields, dir: dir.to_path_buf() })
    }

    /// The catalog generation of the last commit (`None` for a new or damaged index).
    pub fn generation(&self) -> Option<u64> {
        self.index.load_metas().ok()?.payload?.parse().ok()
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

    fn commit(&self, writer: &mut IndexWriter, generation: u64) -> Result<(), SearchError> {
        let mut prepared = writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&generation.to_string());
        prepared.commit().map_err(err)?;
        self.reader.reload().map_err(err)
    }

    /// Mirrors committed product writes (inactive products leave the index). Blocking: call it
    /// from a blocking thread.
    pub fn put(&self, products: &[Product], generation: u64) -> Result<(), SearchError> {
        let mut writer = self.writer.lock();
        for p in products {
            writer.delete_term(Term::from_field_u64(self.fields.id, p.id));
            if p.is_active {
                writer.add_document(self.document(p)).map_err(err)?;
            }
        }
        self.commit(&mut writer, generation)
    }

    /// Replaces the whole index with `products`, calling `progress` after each one.
    pub fn rebuild<'a>(
        &self,
        products: impl Iterator<Item = &'a Product>,
        generation: u64,
        progress: impl Fn(u64),
    ) -> Result<u64, SearchError> {
        let mut writer = self.writer.lock();
        writer.delete_all_documents().map_err(err)?;
        let mut n = 0;
        for p in products {
            if p.is_active {
                writer.add_document(self.document(p)).map_err(err)?;
            }
            n += 1;
            progress(n);
        }
        self.commit(&mut writer, generation)?;
        Ok(n)
    }

    /// Every match of `text` as `(product id, score)`, best first.
    pub fn search(&self, text: &str) -> Result<Vec<(u64, f32)>, SearchError> {
        let f = self.fields;
        let weighted = [(f.title, 3.0), (f.brand, 2.0), (f.category, 1.5), (f.tags, 1.5), (f.description, 1.0)];
        let mut per_word: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for word in words(text) {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, weight) in weighted {
                let term = Term::from_field_text(field, &word);
                let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), 4.0 * weight))));
                if word.chars().count() >= 3 {
                    let inside =
                        RegexQuery::from_pattern(&format!(".*{}.*", regex_escape(&word)), field).map_err(err)?;
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(inside), weight))));
                }
                if word.chars().count() >= 4 {
                    let typo = FuzzyTermQuery::new(term, 1, true);
                    any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(typo), 0.5 * weight))));
                }
            }
            per_word.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        if per_word.is_empty() {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(per_word);
        let searcher = self.reader.searcher();
        let limit = (searcher.num_docs() as usize).max(1);
        let hits = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()).map_err(err)?;
        let mut columns = Vec::with_capacity(searcher.segment_readers().len());
        for segment in searcher.segment_readers() {
            columns.push(segment.fast_fields().u64("id").map_err(err)?);
        }
        Ok(hits
            .into_iter()
            .filter_map(|(score, addr)| columns[addr.segment_ord as usize].first(addr.doc_id).map(|id| (id, score)))
            .collect())
    }

    /// Whether the index answers.
    pub fn is_healthy(&self) -> bool {
        self.dir.join("meta.json").exists() && self.index.load_metas().is_ok()
    }

    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

fn regex_escape(word: &str) -> String {
    word.chars().map(|c| if c.is_alphanumeric() { c.to_string() } else { format!("\\{c}") }).collect()
}
