//! Reading a dataset's CSV (docs/datasets.md): the encoding is found while the file is stored,
//! then the text is decoded as it streams, the delimiter sniffed from the header line, and rows
//! handed out one at a time with their line numbers. Nothing holds the whole file.

use std::io::{self, BufRead, BufReader, Read};

use encoding_rs::{Decoder, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// How a file's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf16Le,
    Utf16Be,
    /// The bytes were not valid UTF-8: read as Windows-1252, with a warning.
    Windows1252,
}

impl TextEncoding {
    const NAMES: [(TextEncoding, &'static str); 4] = [
        (TextEncoding::Utf8, "utf8"),
        (TextEncoding::Utf16Le, "utf16_le"),
        (TextEncoding::Utf16Be, "utf16_be"),
        (TextEncoding::Windows1252, "windows1252"),
    ];

    /// The name it is stored under.
    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("utf8", |(_, name)| name)
    }

    pub fn from_name(name: &str) -> Option<TextEncoding> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(e, _)| *e)
    }
}

/// Finds a file's encoding as its bytes go by (while it is stored), without keeping them.
#[derive(Debug, Default)]
pub struct EncodingSniffer {
    head: Vec<u8>,
    /// An incomplete UTF-8 sequence at the end of the last chunk.
    carry: Vec<u8>,
    invalid_utf8: bool,
    bytes: u64,
}

impl EncodingSniffer {
    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        if self.head.len() < 4 {
            let take = (4 - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.invalid_utf8 {
            return;
        }
        let mut joined;
        let bytes = if self.carry.is_empty() {
            chunk
        } else {
            joined = std::mem::take(&mut self.carry);
            joined.extend_from_slice(chunk);
            &joined[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(_) => {}
            Err(error) if error.error_len().is_none() => {
                self.carry = bytes[error.valid_up_to()..].to_vec();
            }
            Err(_) => self.invalid_utf8 = true,
        }
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> TextEncoding {
        match self.head.as_slice() {
            [0xFF, 0xFE, ..] => TextEncoding::Utf16Le,
            [0xFE, 0xFF, ..] => TextEncoding::Utf16Be,
            _ if self.invalid_utf8 || !self.carry.is_empty() => TextEncoding::Windows1252,
            _ => TextEncoding::Utf8,
        }
    }
}

/// Turns a byte stream in `encoding` into UTF-8, dropping a byte-order mark.
struct Decoded<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    output: Vec<u8>,
    start: usize,
    finished: bool,
}

impl<R: Read> Decoded<R> {
    fn new(inner: R, encoding: TextEncoding) -> Self {
        let encoding = match encoding {
            TextEncoding::Utf8 => UTF_8,
            TextEncoding::Utf16Le => UTF_16LE,
            TextEncoding::Utf16Be => UTF_16BE,
            TextEncoding::Windows1252 => WINDOWS_1252,
        };
        Decoded {
            inner,
            // Removes a BOM of the encoding (UTF-8 or UTF-16) and never glues it to a header.
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; 64 * 1024],
            output: Vec::with_capacity(3 * 64 * 1024 + 16),
            start: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for Decoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.start == self.output.len() && !self.finished {
            let read = self.inner.read(&mut self.input)?;
            let last = read == 0;
            self.output.clear();
            self.start = 0;
            let capacity = self
                .decoder
                .max_utf8_buffer_length(read)
                .unwrap_or(read * 3 + 16);
            self.output.resize(capacity, 0);
            let (_, _, written, _) =
                self.decoder
                    .decode_to_utf8(&self.input[..read], &mut self.output, last);
            self.output.truncate(written);
            self.finished = last;
        }
        let n = buf.len().min(self.output.len() - self.start);
        buf[..n].copy_from_slice(&self.output[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

/// Why a file could not be read at all; the dataset's upload fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    /// Control characters through the start of the file: not text at all.
    #[error("line {line}: this is not a text file (binary content); save the data as CSV")]
    Binary { line: u64 },
    /// A known kind of file that is not CSV, told by its first bytes.
    #[error("this looks like {kind}: {advice}")]
    NotCsv {
        kind: &'static str,
        advice: &'static str,
    },
    #[error("line {line}: a quoted value is never closed")]
    UnterminatedQuote { line: u64 },
    #[error("line {line}: the column {column} appears twice")]
    DuplicateColumn { line: u64, column: String },
    #[error("line {line}: the required column {column} is missing")]
    MissingColumn { line: u64, column: String },
    #[error("line {line}: {message}")]
    Unreadable { line: u64, message: String },
}

impl FileError {
    pub fn line(&self) -> u64 {
        match self {
            FileError::Empty | FileError::NotCsv { .. } => 1,
            FileError::Binary { line }
            | FileError::UnterminatedQuote { line }
            | FileError::DuplicateColumn { line, .. }
            | FileError::MissingColumn { line, .. }
            | FileError::Unreadable { line, .. } => *line,
        }
    }
}

/// How much of the start of a file tells text from binary content.
const SAMPLE: u64 = 4096;

/// Watches the decoded text as the CSV parser reads it: counts lines, finds where a quoted
/// value opened (to name the line of an unterminated quote) and notices binary content: a file
/// whose first `SAMPLE` bytes are more than a tenth control characters. A stray control
/// character elsewhere is its row's finding, not the file's.
struct Watch<R> {
    inner: R,
    delimiter: u8,
    state: QuoteState,
    line: u64,
    quote_opened: u64,
    previous_cr: bool,
    binary_at: Option<u64>,
    /// Control characters among the first `SAMPLE` bytes.
    controls: u64,
    /// Bytes seen so far, and where the lines not yet reached by the parser begin.
    offset: u64,
    line_starts: std::collections::VecDeque<u64>,
    lines_passed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteState {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted value: the end of it, or the first of a doubled quote.
    QuoteInQuoted,
}

impl<R: Read> Watch<R> {
    fn observe(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.offset += 1;
            // A CRLF is one line break; its line begins after the CR (the parser may place a
            // record's start on the LF).
            let newline = byte == b'\n' && !self.previous_cr || byte == b'\r';
            self.previous_cr = byte == b'\r';
            if newline {
                self.line += 1;
                self.line_starts.push_back(self.offset);
            }
            if self.offset <= SAMPLE && is_control(byte) {
                self.controls += 1;
                if self.controls * 10 > SAMPLE {
                    self.binary_at.get_or_insert(self.line);
                }
            }
            let end_of_field = byte == self.delimiter || byte == b'\n' || byte == b'\r';
            self.state = match (self.state, byte) {
                (QuoteState::FieldStart, b'"') => {
                    self.quote_opened = self.line;
                    QuoteState::Quoted
                }
                (QuoteState::Quoted, b'"') => QuoteState::QuoteInQuoted,
                (QuoteState::Quoted, _) => QuoteState::Quoted,
                (QuoteState::QuoteInQuoted, b'"') => QuoteState::Quoted,
                (_, _) if end_of_field => QuoteState::FieldStart,
                (_, _) => QuoteState::Unquoted,
            };
        }
    }
}

impl<R> Watch<R> {
    /// The line of the byte at `offset`; offsets must not go backwards between calls.
    fn line_at(&mut self, offset: u64, first_line: u64) -> u64 {
        while self
            .line_starts
            .front()
            .is_some_and(|start| *start <= offset)
        {
            self.line_starts.pop_front();
            self.lines_passed += 1;
        }
        first_line + self.lines_passed
    }
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observe(&buf[..n]);
        Ok(n)
    }
}

/// The header of a file, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The normalised names, in file order.
    pub names: Vec<String>,
    /// The line the header is on (2 after an Excel `sep=` line).
    pub line: u64,
    pub delimiter: u8,
}

/// One row as read: its line and its raw fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub line: u64,
    pub fields: Vec<String>,
}

/// A CSV file being read.
pub struct CsvFile {
    pub header: Header,
    reader: csv::Reader<Watch<Box<dyn Read + Send>>>,
    record: csv::StringRecord,
}

/// Normalises a header name: upper case, stray spaces removed; `CUSTOM:` keeps its name's case.
pub fn normalise_column(name: &str) -> String {
    let trimmed = name.trim();
    if let Some(custom) = strip_prefix_ignore_case(trimmed, "custom:") {
        return format!("CUSTOM:{}", custom.trim());
    }
    trimmed
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase()
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

impl CsvFile {
    /// Opens a file: decodes it, honours a `sep=` line, sniffs the delimiter and reads the header.
    pub fn open(
        mut inner: impl Read + Send + 'static,
        encoding: TextEncoding,
    ) -> Result<Self, FileError> {
        let mut head = Vec::with_capacity(8);
        (&mut inner)
            .take(8)
            .read_to_end(&mut head)
            .map_err(|e| FileError::Unreadable {
                line: 1,
                message: e.to_string(),
            })?;
        if let Some((kind, advice)) = not_csv(&head) {
            return Err(FileError::NotCsv { kind, advice });
        }
        let inner = io::Cursor::new(head).chain(inner);
        let mut text = BufReader::with_capacity(64 * 1024, Decoded::new(inner, encoding));
        let mut first = Vec::new();
        read_line(&mut text, &mut first)?;
        let mut header_line = 1;
        let mut lead: Vec<u8> = Vec::new();
        let first_text = String::from_utf8_lossy(&first);
        let trimmed = first_text.trim_end_matches(['\r', '\n']);
        let delimiter = if let Some(sep) =
            strip_prefix_ignore_case(trimmed, "sep=").filter(|sep| sep.len() == 1)
        {
            header_line = 2;
            read_line(&mut text, &mut lead)?;
            sep.as_bytes()[0]
        } else {
            lead = first;
            sniff_delimiter(&lead)
        };
        if lead.iter().all(|b| b.is_ascii_whitespace())
            && text.fill_buf().is_ok_and(|b| b.is_empty())
        {
            return Err(FileError::Empty);
        }
        let source: Box<dyn Read + Send> = Box::new(io::Cursor::new(lead).chain(text));
        let watch = Watch {
            inner: source,
            delimiter,
            state: QuoteState::FieldStart,
            line: header_line,
            quote_opened: header_line,
            previous_cr: false,
            binary_at: None,
            controls: 0,
            offset: 0,
            line_starts: std::collections::VecDeque::new(),
            lines_passed: 0,
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(watch);
        let mut record = csv::StringRecord::new();
        let read = reader.read_record(&mut record);
        check_watch(reader.get_ref(), false)?;
        match read {
            Ok(true) => {}
            Ok(false) => return Err(FileError::Empty),
            Err(error) => return Err(unreadable(header_line, &error)),
        }
        let names: Vec<String> = record.iter().map(normalise_column).collect();
        for (i, name) in names.iter().enumerate() {
            if !name.is_empty() && names[..i].contains(name) {
                return Err(FileError::DuplicateColumn {
                    line: header_line,
                    column: name.clone(),
                });
            }
        }
        Ok(CsvFile {
            header: Header {
                names,
                line: header_line,
                delimiter,
            },
            reader,
            record,
        })
    }

    /// The next row that is not blank, or `None` at the end of the file.
    pub fn next_row(&mut self) -> Result<Option<RawRow>, FileError> {
        loop {
            let read = self.reader.read_record(&mut self.record);
            // The line of the record's last byte, less the line breaks inside its values: the
            // parser's own record position can point at blank lines it skipped.
            let end = self.reader.position().byte().saturating_sub(1);
            let first_line = self.header.line;
            let last_line = self.reader.get_mut().line_at(end, first_line);
            let breaks: u64 = self.record.iter().map(line_breaks).sum();
            let line = last_line.saturating_sub(breaks).max(first_line + 1);
            match read {
                Ok(false) => {
                    check_watch(self.reader.get_ref(), true)?;
                    return Ok(None);
                }
                Ok(true) => {
                    check_watch(self.reader.get_ref(), false)?;
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        continue;
                    }
                    return Ok(Some(RawRow {
                        line,
                        fields: self.record.iter().map(str::to_owned).collect(),
                    }));
                }
                Err(error) => return Err(unreadable(line, &error)),
            }
        }
    }
}

fn line_breaks(value: &str) -> u64 {
    let bytes = value.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\r' || **b == b'\n' && (*i == 0 || bytes[i - 1] != b'\r'))
        .count() as u64
}

/// What a file is, by its first bytes, when it is a kind people upload by mistake.
fn not_csv(head: &[u8]) -> Option<(&'static str, &'static str)> {
    const SAVE_AS_CSV: &str = "open it in the spreadsheet and save it as CSV (CSV UTF-8), then \
                               upload that";
    const EXTRACT: &str = "extract the CSV file from it and upload that";
    let kinds: [(&[u8], &str, &str); 9] = [
        (
            b"PK\x03\x04",
            "an Excel workbook (.xlsx) or another ZIP archive",
            SAVE_AS_CSV,
        ),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "an Excel 97-2003 workbook (.xls)",
            SAVE_AS_CSV,
        ),
        (b"%PDF", "a PDF document", "export the data as CSV instead"),
        (b"\x89PNG", "a PNG image", "upload the data as CSV instead"),
        (
            b"\xFF\xD8\xFF",
            "a JPEG image",
            "upload the data as CSV instead",
        ),
        (b"GIF8", "a GIF image", "upload the data as CSV instead"),
        (b"\x1F\x8B", "a gzip archive", EXTRACT),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive", EXTRACT),
        (b"Rar!\x1A\x07", "a RAR archive", EXTRACT),
    ];
    kinds
        .iter()
        .find(|(magic, _, _)| head.starts_with(magic))
        .map(|(_, kind, advice)| (*kind, *advice))
}

/// A byte no text holds: the C0 controls but tab, line breaks and form feed, and DEL.
pub(crate) fn is_control(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r' | 0x0C)) || byte == 0x7F
}

fn check_watch<R>(watch: &Watch<R>, at_end: bool) -> Result<(), FileError> {
    // A short file is judged on all of it.
    let short_and_binary = at_end && watch.offset < SAMPLE && watch.controls * 10 > watch.offset;
    if let Some(line) = watch.binary_at.or(short_and_binary.then_some(1)) {
        return Err(FileError::Binary { line });
    }
    if at_end && watch.state == QuoteState::Quoted {
        return Err(FileError::UnterminatedQuote {
            line: watch.quote_opened,
        });
    }
    Ok(())
}

fn unreadable(line: u64, error: &csv::Error) -> FileError {
    FileError::Unreadable {
        line,
        message: error.to_string(),
    }
}

/// Reads one line, ending at LF, CR or CRLF (kept), outside quotes.
fn read_line(text: &mut impl BufRead, line: &mut Vec<u8>) -> Result<(), FileError> {
    let mut quoted = false;
    loop {
        let buffer = text.fill_buf().map_err(|e| FileError::Unreadable {
            line: 1,
            message: e.to_string(),
        })?;
        if buffer.is_empty() {
            return Ok(());
        }
        let mut used = 0;
        let mut done = false;
        for (i, &byte) in buffer.iter().enumerate() {
            used = i + 1;
            if byte == b'"' {
                quoted = !quoted;
            } else if !quoted && (byte == b'\n' || byte == b'\r') {
                // Keep a CRLF together.
                if byte == b'\r' && buffer.get(i + 1) == Some(&b'\n') {
                    used += 1;
                }
                done = true;
                break;
            }
        }
        line.extend_from_slice(&buffer[..used]);
        text.consume(used);
        if done || line.len() > 1024 * 1024 {
            return Ok(());
        }
    }
}

/// The delimiter the header line uses most, outside quotes: comma, semicolon, tab or pipe.
fn sniff_delimiter(line: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let candidates = [b',', b';', b'\t', b'|'];
    let mut quoted = false;
    for &byte in line {
        if byte == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = candidates.iter().position(|c| *c == byte) {
            counts[i] += 1;
        }
    }
    let best = (0..4)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        candidates[best]
    }
}
