//! Invoices and credit notes as PDF.
//!
//! [`render`] lays a [`Document`] out on A4 or Letter pages: seller and logo, title and number,
//! the facts and the buyer, a table of lines that breaks across as many pages as it needs (each
//! page repeats a compact header and the column heads), the totals, and on every page the shop's
//! footer and "Page N of M".
//!
//! It uses `krilla` because krilla embeds and subsets TrueType fonts itself and writes text as
//! real text with a ToUnicode map, so invoices stay small, searchable and copyable; it also embeds
//! PNG and JPEG logos. The font is DejaVu Sans (Bitstream Vera licence,
//! `assets/fonts/LICENSE-DejaVu.txt`), built into the binary so a PDF looks the same on every
//! machine and covers Latin, Greek and Cyrillic.
//!
//! Glyphs are placed one by one from the font's own advance widths (read with `skrifa`, which
//! krilla uses too), so what is measured for wrapping and right-alignment is exactly what is
//! drawn. There is no kerning or complex-script shaping: fine for invoices in European scripts.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

use krilla::color::rgb;
use krilla::error::KrillaError;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::MetadataProvider;
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size as FontSize};
use skrifa::metrics::GlyphMetrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paper {
    A4,
    Letter,
}

/// A name-and-address block; the first line is drawn bold.
#[derive(Debug, Clone, Default)]
pub struct Party {
    pub lines: Vec<String>,
}

/// One row of the table. The numbers come formatted: this module only lays text out.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub description: String,
    pub quantity: String,
    pub unit_price: String,
    pub discount: String,
    pub total: String,
}

#[derive(Debug, Clone)]
pub struct Document {
    /// "Invoice" or "Credit note".
    pub title: String,
    pub number: String,
    pub paper: Paper,
    pub seller: Party,
    /// PNG or JPEG; one that can't be decoded is left out.
    pub logo: Option<Vec<u8>>,
    pub buyer: Party,
    /// Label/value pairs under the title: dates, order, payment.
    pub facts: Vec<(String, String)>,
    pub lines: Vec<Line>,
    pub totals: Vec<(String, String)>,
    pub grand_total: (String, String),
    /// E.g. "PAID", boxed in green beside the title.
    pub stamp: Option<String>,
    /// Printed at the bottom of every page; `\n` starts a new line.
    pub footer: Option<String>,
}

const MARGIN: f32 = 50.0;
const LOGO_W: f32 = 140.0;
const LOGO_H: f32 = 50.0;
/// A logo is shrunk into 140×50 pt; more pixels than this would only cost memory to decode.
const MAX_LOGO_PX: u32 = 4096;
const COL_GAP: f32 = 10.0;
const CELL_PAD: f32 = 5.0;
const HEAD_H: f32 = 20.0;
const ROW_PAD: f32 = 5.0;
const LINE_H: f32 = 12.0;
/// From the top margin to the column heads on pages after the first.
const COMPACT_H: f32 = 30.0;
const TOTAL_LH: f32 = 15.0;
const GRAND_LH: f32 = 24.0;
const FOOT_LH: f32 = 10.0;
/// Caps for blocks that are meant to be short, so absurd input can't push the table off page 1.
const MAX_BLOCK_LINES: usize = 10;
const MAX_FOOTER_LINES: usize = 6;
const HEADS: [&str; 5] = ["Description", "Qty", "Unit price", "Discount", "Total"];

const INK: (u8, u8, u8) = (33, 33, 33);
const MUTED: (u8, u8, u8) = (110, 110, 110);
const RULE: (u8, u8, u8) = (210, 210, 210);
const SHADE: (u8, u8, u8) = (241, 242, 244);
const GREEN: (u8, u8, u8) = (22, 130, 64);

#[derive(Clone, Copy)]
struct Style {
    bold: bool,
    size: f32,
    color: (u8, u8, u8),
}

const fn style(bold: bool, size: f32, color: (u8, u8, u8)) -> Style {
    Style { bold, size, color }
}

const BODY: Style = style(false, 9.0, INK);
const QUIET: Style = style(false, 9.0, MUTED);
const NAME: Style = style(true, 11.0, INK);
const BODY_BOLD: Style = style(true, 9.5, INK);
const SMALL_CAPS: Style = style(true, 7.5, MUTED);
const HEAD: Style = style(true, 8.0, MUTED);
const TITLE: Style = style(true, 22.0, INK);
const NUMBER: Style = style(false, 22.0, MUTED);
const STAMP: Style = style(true, 14.0, GREEN);
const COMPACT: Style = style(true, 9.0, INK);
const GRAND: Style = style(true, 11.0, INK);
const FOOT: Style = style(false, 7.5, MUTED);

/// One embedded font: krilla's handle for drawing, skrifa's tables for measuring.
struct Face {
    pdf: Font,
    charmap: Charmap<'static>,
    metrics: GlyphMetrics<'static>,
    units_per_em: f32,
}

impl Face {
    fn load(data: &'static [u8]) -> Face {
        // The fonts are compiled in and the unit tests load both, so these can't fail in service.
        let font = skrifa::FontRef::new(data).expect("bundled font parses");
        let metrics = font.metrics(FontSize::unscaled(), LocationRef::default());
        Face {
            pdf: Font::new(data.into(), 0).expect("krilla accepts the bundled font"),
            charmap: font.charmap(),
            metrics: font.glyph_metrics(FontSize::unscaled(), LocationRef::default()),
            units_per_em: f32::from(metrics.units_per_em),
        }
    }

    /// Glyph and advance (in em) for `ch`; a char the font lacks becomes `.notdef`, and a control
    /// char a space, so no input can fail to draw.
    fn glyph(&self, ch: char) -> (GlyphId, f32) {
        let ch = if ch.is_control() { ' ' } else { ch };
        let id = self.charmap.map(ch).unwrap_or_default();
        let advance = self.metrics.advance_width(id).unwrap_or(0.0) / self.units_per_em;
        (GlyphId::new(id.to_u32()), advance)
    }
}

static REGULAR: LazyLock<Face> = LazyLock::new(|| Face::load(include_bytes!("../assets/fonts/DejaVuSans.ttf")));
static BOLD: LazyLock<Face> = LazyLock::new(|| Face::load(include_bytes!("../assets/fonts/DejaVuSans-Bold.ttf")));

impl Style {
    fn face(self) -> &'static Face {
        if self.bold { &BOLD } else { &REGULAR }
    }

    fn char_width(self, ch: char) -> f32 {
        self.face().glyph(ch).1 * self.size
    }

    fn width(self, text: &str) -> f32 {
        text.chars().map(|ch| self.char_width(ch)).sum()
    }
}

/// `text` cut to `width` with an ellipsis, for one-line cells that must not run into a neighbour.
fn fit(style: Style, text: &str, width: f32) -> Cow<'_, str> {
    if style.width(text) <= width {
        return Cow::Borrowed(text);
    }
    let budget = width - style.width("…");
    let (mut used, mut end) = (0.0, 0);
    for (i, ch) in text.char_indices() {
        used += style.char_width(ch);
        if used > budget {
            break;
        }
        end = i + ch.len_utf8();
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// Greedy word wrap to `width`; `\n` starts a new line and a word wider than a line is broken
/// between chars. Always at least one (maybe empty) line, so every table row has a height.
fn wrap(style: Style, text: &str, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let (mut line, mut used) = (String::new(), 0.0);
        for word in paragraph.split_whitespace() {
            let space = style.char_width(' ');
            if !line.is_empty() && used + space + style.width(word) > width {
                lines.push(std::mem::take(&mut line));
                used = 0.0;
            } else if !line.is_empty() {
                line.push(' ');
                used += space;
            }
            // Only a word wider than a whole line breaks here.
            for ch in word.chars() {
                let cw = style.char_width(ch);
                if used + cw > width && !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                    used = 0.0;
                }
                line.push(ch);
                used += cw;
            }
        }
        lines.push(line);
    }
    lines
}

fn fill(color: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(color.0, color.1, color.2).into(), ..Fill::default() }
}

/// Draws onto a page, or only measures when it has none: the first page's header is laid out by
/// the code that draws it, so pagination and drawing can't disagree about its height.
struct Pen<'a, 'b> {
    surface: Option<&'a mut Surface<'b>>,
}

impl Pen<'_, '_> {
    fn text(&mut self, x: f32, baseline: f32, style: Style, text: &str) {
        let Some(surface) = self.surface.as_deref_mut() else { return };
        if text.is_empty() {
            return;
        }
        let face = style.face();
        let glyphs: Vec<KrillaGlyph> = text
            .char_indices()
            .map(|(i, ch)| {
                let (id, advance) = face.glyph(ch);
                KrillaGlyph::new(id, advance, 0.0, 0.0, 0.0, i..i + ch.len_utf8(), None)
            })
            .collect();
        surface.set_stroke(None);
        surface.set_fill(Some(fill(style.color)));
        surface.draw_glyphs(Point::from_xy(x, baseline), &glyphs, face.pdf.clone(), text, style.size, false);
    }

    fn text_right(&mut self, right: f32, baseline: f32, style: Style, text: &str) {
        self.text(right - style.width(text), baseline, style, text);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: (u8, u8, u8), outline: Option<f32>) {
        let Some(surface) = self.surface.as_deref_mut() else { return };
        let mut path = PathBuilder::new();
        let Some(rect) = Rect::from_xywh(x, y, w, h) else { return };
        path.push_rect(rect);
        let Some(path) = path.finish() else { return };
        let paint = rgb::Color::new(color.0, color.1, color.2).into();
        match outline {
            Some(width) => {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke { paint, width, ..Stroke::default() }));
            }
            None => surface.set_fill(Some(fill(color))),
        }
        surface.draw_path(&path);
        surface.set_stroke(None);
    }

    fn image(&mut self, image: &Image, x: f32, y: f32, w: f32, h: f32) {
        let (Some(surface), Some(size)) = (self.surface.as_deref_mut(), Size::from_wh(w, h)) else { return };
        surface.push_transform(&Transform::from_translate(x, y));
        surface.draw_image(image.clone(), size);
        surface.pop();
    }
}

/// A party's lines, each wrapped to `width`, first line in `first`; returns the bottom.
fn party(pen: &mut Pen, x: f32, top: f32, width: f32, party: &Party, first: Style) -> f32 {
    let lines = party.lines.iter().enumerate().flat_map(|(i, line)| {
        let style = if i == 0 { first } else { QUIET };
        wrap(style, line, width).into_iter().map(move |piece| (style, piece))
    });
    let mut y = top;
    for (style, piece) in lines.take(MAX_BLOCK_LINES) {
        pen.text(x, y + style.size, style, &piece);
        y += style.size * 1.45;
    }
    y
}

/// Label/value pairs in two columns; returns the bottom.
fn facts(pen: &mut Pen, x: f32, top: f32, width: f32, facts: &[(String, String)]) -> f32 {
    let label_w = facts.iter().map(|(label, _)| QUIET.width(label)).fold(0.0, f32::max).min(width * 0.45) + 12.0;
    let mut y = top;
    for (label, value) in facts.iter().take(MAX_BLOCK_LINES) {
        pen.text(x, y + BODY.size, QUIET, &fit(QUIET, label, label_w - 12.0));
        pen.text(x + label_w, y + BODY.size, BODY, &fit(BODY, value, width - label_w));
        y += LINE_H + 2.0;
    }
    y
}

/// The stamp boxed in green, right-aligned on the title's baseline; returns the width it took.
fn stamp(pen: &mut Pen, right: f32, baseline: f32, text: &str, max_w: f32) -> f32 {
    let (pad_x, pad_y, cap) = (8.0, 5.0, STAMP.size * 0.73);
    let text = fit(STAMP, text.trim(), max_w - 2.0 * pad_x);
    if text.is_empty() {
        return 0.0;
    }
    let w = STAMP.width(&text) + 2.0 * pad_x;
    // Centre the stamp's capitals on the title's capitals.
    let base = baseline - (TITLE.size - STAMP.size) * 0.73 / 2.0;
    pen.rect(right - w, base - cap - pad_y, w, cap + 2.0 * pad_y, GREEN, Some(1.5));
    pen.text(right - w + pad_x, base, STAMP, &text);
    w
}

/// Where the table's columns go: numbers are right-aligned at `rights`, each within `widths`.
struct Columns {
    desc_x: f32,
    desc_w: f32,
    rights: [f32; 4],
    widths: [f32; 4],
}

fn cells(line: &Line) -> [&str; 4] {
    [&line.quantity, &line.unit_price, &line.discount, &line.total]
}

impl Columns {
    /// Number columns as wide as their widest cell (within limits); the description takes the rest.
    fn new(lines: &[Line], left: f32, right: f32) -> Columns {
        let inner = right - left - 2.0 * CELL_PAD;
        let max_w = (inner * 0.6 - 4.0 * COL_GAP) / 4.0;
        let mut widths = [0.0; 4];
        for (i, w) in widths.iter_mut().enumerate() {
            let widest = lines.iter().map(|line| BODY.width(cells(line)[i])).fold(HEAD.width(HEADS[i + 1]), f32::max);
            *w = widest.clamp(36.0, max_w);
        }
        let mut rights = [0.0; 4];
        let mut x = right - CELL_PAD;
        for i in (0..4).rev() {
            rights[i] = x;
            x -= widths[i] + COL_GAP;
        }
        // `x` is now the right edge of the description column.
        Columns { desc_x: left + CELL_PAD, desc_w: x - (left + CELL_PAD), rights, widths }
    }
}

/// A run of one line's description lines placed on a page (a line taller than a page is split).
struct Part {
    line: usize,
    pieces: Range<usize>,
    top: f32,
}

#[derive(Default)]
struct PagePlan {
    parts: Vec<Part>,
    totals: Option<f32>,
}

/// Everything measured and placed before drawing, so every page knows the page count.
struct Layout<'d> {
    doc: &'d Document,
    logo: Option<&'d Image>,
    size: (f32, f32),
    left: f32,
    right: f32,
    body_bottom: f32,
    footer: Vec<String>,
    cols: Columns,
    descs: Vec<Vec<String>>,
    pages: Vec<PagePlan>,
}

impl<'d> Layout<'d> {
    fn new(doc: &'d Document, logo: Option<&'d Image>) -> Layout<'d> {
        let size = match doc.paper {
            Paper::A4 => (595.28, 841.89),
            Paper::Letter => (612.0, 792.0),
        };
        let (left, right) = (MARGIN, size.0 - MARGIN);
        let footer = doc.footer.as_deref().map(|f| wrap(FOOT, f, right - left)).unwrap_or_default();
        let footer: Vec<String> = footer.into_iter().take(MAX_FOOTER_LINES).collect();
        let body_bottom = size.1 - 40.0 - 14.0 - footer.len() as f32 * FOOT_LH - 14.0;
        let cols = Columns::new(&doc.lines, left, right);
        let descs = doc.lines.iter().map(|line| wrap(BODY, &line.description, cols.desc_w)).collect();
        let mut layout = Layout { doc, logo, size, left, right, body_bottom, footer, cols, descs, pages: Vec::new() };
        let first_top = layout.first_header(&mut Pen { surface: None });
        layout.paginate(first_top);
        layout
    }

    /// Fills pages with table rows, then the totals; a row that doesn't fit moves to a new page.
    fn paginate(&mut self, first_top: f32) {
        let body_top = |page: usize| if page == 0 { first_top } else { MARGIN + COMPACT_H } + HEAD_H;
        let room = |top: f32| ((self.body_bottom - top - 2.0 * ROW_PAD) / LINE_H).floor().max(0.0) as usize;
        let fresh = room(body_top(1));
        let mut pages = vec![PagePlan::default()];
        let mut y = body_top(0);
        for (line, desc) in self.descs.iter().enumerate() {
            let mut next = 0;
            while next < desc.len() {
                let (left, page) = (desc.len() - next, pages.len() - 1);
                let empty = pages[page].parts.is_empty();
                // An empty follow-on page always takes a line, so this loop must end.
                let room = if empty && page > 0 { room(y).max(1) } else { room(y) };
                let take = match room {
                    r if r >= left => left,
                    0 => 0,
                    _ if !empty && left <= fresh => 0,
                    r => r,
                };
                if take > 0 {
                    pages[page].parts.push(Part { line, pieces: next..next + take, top: y });
                    y += take as f32 * LINE_H + 2.0 * ROW_PAD;
                    next += take;
                }
                if next < desc.len() {
                    pages.push(PagePlan::default());
                    y = body_top(pages.len() - 1);
                }
            }
        }
        let totals_h = 10.0 + self.doc.totals.len() as f32 * TOTAL_LH + GRAND_LH;
        let alone = pages.len() > 1 && pages[pages.len() - 1].parts.is_empty();
        if y + totals_h > self.body_bottom && !alone {
            pages.push(PagePlan::default());
            y = MARGIN + COMPACT_H;
        }
        if let Some(last) = pages.last_mut() {
            last.totals = Some(y);
        }
        self.pages = pages;
    }

    /// Seller, logo, title, stamp, facts and buyer; returns where the table starts.
    fn first_header(&self, pen: &mut Pen) -> f32 {
        let (doc, left, right) = (self.doc, self.left, self.right);
        let width = right - left;
        let mut bottom = party(pen, left, MARGIN, width - LOGO_W - 20.0, &doc.seller, NAME);
        if let Some(image) = self.logo {
            let (w, h) = (image.size().0 as f32, image.size().1 as f32);
            let scale = (LOGO_W / w).min(LOGO_H / h);
            pen.image(image, right - w * scale, MARGIN, w * scale, h * scale);
            bottom = bottom.max(MARGIN + h * scale);
        }
        let baseline = bottom + 26.0 + TITLE.size;
        let stamp_w = doc.stamp.as_deref().map_or(0.0, |text| stamp(pen, right, baseline, text, width / 3.0));
        let title = fit(TITLE, &doc.title, width - stamp_w - 20.0);
        pen.text(left, baseline, TITLE, &title);
        let number_x = left + TITLE.width(&title) + 10.0;
        pen.text(number_x, baseline, NUMBER, &fit(NUMBER, &doc.number, right - stamp_w - 20.0 - number_x));
        let top = baseline + 20.0;
        let half = width / 2.0 - 15.0;
        let facts_bottom = facts(pen, left, top, half, &doc.facts);
        let mut buyer_bottom = top;
        if !doc.buyer.lines.is_empty() {
            let x = right - half;
            pen.text(x, top + SMALL_CAPS.size, SMALL_CAPS, "BILL TO");
            buyer_bottom = party(pen, x, top + 14.0, half, &doc.buyer, BODY_BOLD);
        }
        facts_bottom.max(buyer_bottom) + 22.0
    }

    /// Pages after the first: seller name left, title and number right, a rule below.
    fn compact_header(&self, pen: &mut Pen) {
        let half = (self.right - self.left) / 2.0 - 10.0;
        let seller = self.doc.seller.lines.first().map_or("", String::as_str);
        let baseline = MARGIN + COMPACT.size;
        pen.text(self.left, baseline, COMPACT, &fit(COMPACT, seller, half));
        let title = format!("{} {}", self.doc.title, self.doc.number);
        pen.text_right(self.right, baseline, COMPACT, &fit(COMPACT, &title, half));
        pen.rect(self.left, baseline + 6.0, self.right - self.left, 0.75, RULE, None);
    }

    fn column_heads(&self, pen: &mut Pen, top: f32) {
        pen.rect(self.left, top, self.right - self.left, HEAD_H, SHADE, None);
        let baseline = top + 13.0;
        pen.text(self.cols.desc_x, baseline, HEAD, &fit(HEAD, HEADS[0], self.cols.desc_w));
        for i in 0..4 {
            pen.text_right(self.cols.rights[i], baseline, HEAD, &fit(HEAD, HEADS[i + 1], self.cols.widths[i]));
        }
    }

    fn row(&self, pen: &mut Pen, part: &Part) {
        let line = &self.doc.lines[part.line];
        let first_baseline = part.top + ROW_PAD + BODY.size;
        // The numbers go beside the first piece of the description only.
        if part.pieces.start == 0 {
            for (i, cell) in cells(line).into_iter().enumerate() {
                pen.text_right(self.cols.rights[i], first_baseline, BODY, &fit(BODY, cell, self.cols.widths[i]));
            }
        }
        let pieces = &self.descs[part.line][part.pieces.clone()];
        for (n, piece) in pieces.iter().enumerate() {
            pen.text(self.cols.desc_x, first_baseline + n as f32 * LINE_H, BODY, piece);
        }
        let bottom = part.top + 2.0 * ROW_PAD + pieces.len() as f32 * LINE_H;
        pen.rect(self.left, bottom - 0.5, self.right - self.left, 0.5, RULE, None);
    }

    /// Totals right-aligned under the Total column, then a rule and the grand total in bold.
    fn totals(&self, pen: &mut Pen, top: f32) {
        let doc = self.doc;
        let value_w = doc.totals.iter().map(|(_, v)| BODY.width(v)).fold(GRAND.width(&doc.grand_total.1), f32::max);
        let value_w = value_w.clamp(self.cols.widths[3], (self.right - self.left) / 3.0);
        let value_right = self.right - CELL_PAD;
        let label_right = value_right - value_w - 20.0;
        let label_max = label_right - self.left - (self.right - self.left) * 0.3;
        let mut widest = GRAND.width(&doc.grand_total.0);
        let mut y = top + 10.0;
        for (label, value) in &doc.totals {
            let label = fit(QUIET, label, label_max);
            widest = widest.max(QUIET.width(&label));
            pen.text_right(label_right, y + BODY.size, QUIET, &label);
            pen.text_right(value_right, y + BODY.size, BODY, &fit(BODY, value, value_w));
            y += TOTAL_LH;
        }
        let rule_left = label_right - widest.min(label_max) - CELL_PAD;
        pen.rect(rule_left, y + 1.0, self.right - rule_left, 1.0, INK, None);
        let baseline = y + 8.0 + GRAND.size;
        pen.text_right(label_right, baseline, GRAND, &fit(GRAND, &doc.grand_total.0, label_max));
        pen.text_right(value_right, baseline, GRAND, &fit(GRAND, &doc.grand_total.1, value_w));
    }

    fn footer(&self, pen: &mut Pen, page: usize) {
        let page_baseline = self.size.1 - 40.0;
        let top = page_baseline - 14.0 - self.footer.len() as f32 * FOOT_LH;
        pen.rect(self.left, top - 6.0, self.right - self.left, 0.5, RULE, None);
        for (i, line) in self.footer.iter().enumerate() {
            let x = (self.size.0 - FOOT.width(line)) / 2.0;
            pen.text(x, top + i as f32 * FOOT_LH + FOOT.size, FOOT, line);
        }
        let label = format!("Page {} of {}", page + 1, self.pages.len());
        pen.text_right(self.right, page_baseline, FOOT, &label);
    }

    fn draw_page(&self, surface: &mut Surface, page: usize) {
        let pen = &mut Pen { surface: Some(surface) };
        let plan = &self.pages[page];
        let table_top = if page == 0 {
            self.first_header(pen)
        } else {
            self.compact_header(pen);
            MARGIN + COMPACT_H
        };
        if page == 0 || !plan.parts.is_empty() {
            self.column_heads(pen, table_top);
        }
        for part in &plan.parts {
            self.row(pen, part);
        }
        if let Some(top) = plan.totals {
            self.totals(pen, top);
        }
        self.footer(pen, page);
    }
}

/// The logo as an image krilla can embed, or `None` if it is not PNG or JPEG, has no pixels, or is
/// implausibly large. krilla reads only the header here and decodes when the PDF is written.
fn decode_logo(bytes: &[u8]) -> Option<Image> {
    let data = bytes.to_vec().into();
    let image = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Image::from_png(data, true)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Image::from_jpeg(data, true)
    } else {
        return None;
    };
    let image = image.ok()?;
    let (w, h) = image.size();
    (w > 0 && h > 0 && w <= MAX_LOGO_PX && h <= MAX_LOGO_PX).then_some(image)
}

/// How many pages [`render`] makes of `doc`.
pub fn layout_pages(doc: &Document) -> usize {
    let logo = doc.logo.as_deref().and_then(decode_logo);
    Layout::new(doc, logo.as_ref()).pages.len()
}

fn build(doc: &Document, logo: Option<&Image>) -> Result<Vec<u8>, KrillaError> {
    let layout = Layout::new(doc, logo);
    let mut pdf = krilla::Document::new();
    pdf.set_metadata(Metadata::new().title(format!("{} {}", doc.title, doc.number)));
    for page in 0..layout.pages.len() {
        let settings = PageSettings::from_wh(layout.size.0, layout.size.1).expect("paper sizes are positive");
        let mut page_builder = pdf.start_page_with(settings);
        let mut surface = page_builder.surface();
        layout.draw_page(&mut surface, page);
        surface.finish();
        page_builder.finish();
    }
    pdf.finish()
}

/// The document as PDF bytes. Any text is accepted: chars the font lacks show as boxes.
pub fn render(doc: &Document) -> Vec<u8> {
    let logo = doc.logo.as_deref().and_then(decode_logo);
    match build(doc, logo.as_ref()) {
        Ok(pdf) => pdf,
        // A logo with a good header but broken data fails only now; the invoice matters more.
        Err(err) if logo.is_some() => {
            tracing::warn!(number = %doc.number, %err, "invoice logo could not be embedded; left out");
            build(doc, None).unwrap_or_default()
        }
        Err(err) => {
            // Only the bundled fonts are left to fail, and the tests embed them.
            tracing::error!(number = %doc.number, %err, "could not write invoice PDF");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4×2 PNG, so the logo paths run without test files.
    const TINY_PNG: [u8; 94] = [
        137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 4, 0, 0, 0, 2, 8, 2, 0, 0, 0, 240, 202,
        234, 52, 0, 0, 0, 37, 73, 68, 65, 84, 120, 1, 1, 26, 0, 229, 255, 0, 200, 30, 30, 30, 30, 200, 200, 30, 30, 30,
        30, 200, 0, 200, 30, 30, 30, 30, 200, 200, 30, 30, 30, 30, 200, 105, 186, 8, 33, 254, 101, 72, 130, 0, 0, 0, 0,
        73, 69, 78, 68, 174, 66, 96, 130,
    ];

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn line(description: &str) -> Line {
        let n = |s: &str| s.to_string();
        Line {
            description: n(description),
            quantity: n("2"),
            unit_price: n("9.50"),
            discount: n(""),
            total: n("19.00"),
        }
    }

    fn invoice(lines: usize) -> Document {
        Document {
            title: "Invoice".into(),
            number: "INV-1001".into(),
            paper: Paper::A4,
            seller: Party { lines: strings(&["Müller & Söhne GmbH", "Hauptstraße 12", "10115 Berlin"]) },
            logo: Some(TINY_PNG.to_vec()),
            buyer: Party { lines: strings(&["Jürgen Müller", "Königstraße 5", "80331 München"]) },
            facts: vec![("Invoice date".into(), "2025-03-14".into())],
            lines: (0..lines).map(|i| line(&format!("Ελληνικό μέλι {i}"))).collect(),
            totals: vec![("Subtotal".into(), "19.00".into())],
            grand_total: ("Total (USD)".into(), "19.00".into()),
            stamp: Some("PAID".into()),
            footer: Some("Thank you!\nIBAN DE89 3704 0044 0532 0130 00".into()),
        }
    }

    fn page_objects(pdf: &[u8]) -> usize {
        pdf.windows(11).filter(|w| w == b"/Type/Page/").count()
    }

    #[test]
    fn renders_a_one_page_pdf() {
        let pdf = render(&invoice(3));
        assert!(pdf.starts_with(b"%PDF-") && pdf.ends_with(b"%%EOF"));
        assert_eq!((layout_pages(&invoice(3)), page_objects(&pdf)), (1, 1));
    }

    #[test]
    fn many_lines_break_across_pages() {
        let doc = invoice(150);
        let pages = layout_pages(&doc);
        assert!(pages > 1);
        assert_eq!(page_objects(&render(&doc)), pages);
        // Letter is shorter than A4, and the empty invoice still has its one page.
        assert!(layout_pages(&Document { paper: Paper::Letter, ..doc }) >= pages);
        assert_eq!(layout_pages(&invoice(0)), 1);
    }

    #[test]
    fn hostile_text_does_not_panic() {
        let mut doc = invoice(4);
        doc.lines[0].description = "x".repeat(20_000);
        doc.lines[1].description = "🎉 中文 \t\r\n\u{0}\u{202e} tabs".into();
        doc.lines[2] = Line::default();
        doc.lines[3].quantity = "9".repeat(300);
        doc.seller.lines = vec![String::new(); 40];
        doc.buyer.lines.clear();
        doc.title = String::new();
        doc.stamp = Some(" ".into());
        doc.footer = Some("line\n".repeat(100));
        doc.logo = Some(b"\x89PNG\r\n\x1a\nnot really".to_vec());
        assert!(layout_pages(&doc) > 1);
        assert!(render(&doc).starts_with(b"%PDF-"));
    }

    #[test]
    fn broken_logo_is_left_out() {
        // A cut-off PNG passes krilla's look at its header, and fails only when the PDF is written.
        let cut = decode_logo(&TINY_PNG[..60]).expect("header is intact");
        assert!(build(&invoice(1), Some(&cut)).is_err());
        let doc = Document { logo: Some(TINY_PNG[..60].to_vec()), ..invoice(1) };
        assert!(render(&doc).starts_with(b"%PDF-"));
        assert!(decode_logo(&TINY_PNG).is_some() && decode_logo(b"GIF89a").is_none());
    }

    #[test]
    fn wrap_keeps_lines_within_width_and_breaks_long_words() {
        let text = format!("Łódź ceramic mug {} end", "ß".repeat(200));
        let lines = wrap(BODY, &text, 120.0);
        assert!(lines.len() > 3);
        assert!(lines.iter().all(|l| BODY.width(l) <= 120.0));
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(wrap(BODY, "", 120.0), vec![String::new()]);
        assert!(BODY.width(&fit(BODY, &"9".repeat(100), 50.0)) <= 50.0);
    }

    #[test]
    fn fonts_cover_european_scripts() {
        for face in [&*REGULAR, &*BOLD] {
            assert!("üößŁóźΩλЖя€".chars().all(|ch| face.charmap.map(ch).is_some()));
        }
    }
}
