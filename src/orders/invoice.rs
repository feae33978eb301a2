//! The invoice PDF, written directly: one page, the standard Helvetica fonts, text drawn with
//! plain content-stream operators. Small (a few KB), no renderer, no external process.

use std::fmt::Write as _;

use super::Order;
use crate::users::User;

/// PDF string literal: ASCII only (the standard fonts' encoding), with ( ) \ escaped.
fn text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => format!("\\{c}"),
            c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
            _ => "?".to_string(),
        })
        .collect()
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}...", s.chars().take(n - 3).collect::<String>()) }
}

/// The invoice of `order` for `customer`.
pub fn render(order: &Order, customer: Option<&User>) -> Vec<u8> {
    let mut body = String::new();
    let mut line = |font: &str, size: u32, x: u32, y: u32, s: &str| {
        let _ = writeln!(body, "BT /{font} {size} Tf {x} {y} Td ({}) Tj ET", text(s));
    };
    line("F2", 22, 50, 740, "INVOICE");
    line("F1", 10, 50, 715, &format!("Order {}, id {}", order.label(), order.id));
    line("F1", 10, 50, 701, &format!("Date {}", order.created_at.format("%Y-%m-%d")));
    line("F1", 10, 50, 687, &format!("Status {}", order.status.as_str()));
    let name = customer
        .map(|u| format!("{} {} <{}>", u.first_name, u.last_name, u.email))
        .unwrap_or_else(|| format!("Customer {}", order.user_id));
    line("F2", 11, 50, 660, "Bill to");
    line("F1", 10, 50, 646, &name);
    let a = &order.address;
    line("F1", 10, 50, 632, &format!("{} {}, {}", a.first_name, a.last_name, a.address));
    line("F1", 10, 50, 618, &format!("{} {} {}, {}", a.zip_code, a.city, a.state, a.country));

    let mut y = 585;
    line("F2", 10, 50, y, "Item");
    line("F2", 10, 360, y, "Qty");
    line("F2", 10, 420, y, "Price");
    line("F2", 10, 500, y, "Total");
    y -= 16;
    let shown = order.items.len().min(30);
    for item in &order.items[..shown] {
        line("F1", 10, 50, y, &truncate(&item.title, 55));
        line("F1", 10, 360, y, &item.quantity.to_string());
        line("F1", 10, 420, y, &item.price.to_string());
        line("F1", 10, 500, y, &item.total.to_string());
        y -= 14;
    }
    if order.items.len() > shown {
        line("F1", 10, 50, y, &format!("... and {} more lines", order.items.len() - shown));
        y -= 14;
    }
    y -= 10;
    for (label, amount) in [("Subtotal", order.subtotal), ("Tax", order.tax), ("Shipping", order.shipping)] {
        line("F1", 10, 420, y, label);
        line("F1", 10, 500, y, &amount.to_string());
        y -= 14;
    }
    line("F2", 11, 420, y, &format!("Total ({})", order.currency));
    line("F2", 11, 500, y, &order.total.to_string());

    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>".to_string(),
        format!("<< /Length {} >>\nstream\n{body}endstream", body.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut pdf = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, obj) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{obj}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    let mut tail = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for o in offsets {
        let _ = writeln!(tail, "{o:010} 00000 n ");
    }
    let _ = write!(tail, "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1);
    pdf.extend_from_slice(tail.as_bytes());
    pdf
}
