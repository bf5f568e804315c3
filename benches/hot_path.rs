//! Micro-benchmarks of the per-line work on the server's hot path, without a network, so a regression
//! shows up without running the load generator: cutting a read into lines, cleaning a line, and
//! queuing one broadcast line for 1,000 connections. Run with `cargo bench`.

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pollchat::connection::Output;
use pollchat::line_reader::{LineReader, Piece};
use pollchat::text;

/// A 64 KiB read full of 64-byte chat lines, as a busy sender fills the server's buffer.
fn busy_read() -> Vec<u8> {
    let line = b"~B 7 123456 1732470000000000000 some padding to make it 64 bytes\n";
    line.iter().copied().cycle().take(64 << 10).collect()
}

fn line_reader(c: &mut Criterion) {
    let input = busy_read();
    let mut group = c.benchmark_group("line_reader");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("feed 64 KiB of 64-byte lines", |b| {
        let mut reader = LineReader::new(4096);
        b.iter(|| {
            let mut lines = 0usize;
            let _ = reader.feed(black_box(&input), |piece| {
                if let Piece::Line(line) = piece {
                    lines += line.len();
                }
                ControlFlow::Continue(())
            });
            lines
        })
    });
    group.finish();
}

fn clean(c: &mut Criterion) {
    let ascii = "hola a todos, ¿qué tal?".replace('¿', "").replace('é', "e");
    let unicode = "hola a todos, ¿qué tal? 👋 \u{1b}[31mrojo\u{1b}[0m";
    let mut group = c.benchmark_group("text::clean");
    group.bench_function("printable ASCII", |b| {
        b.iter(|| text::clean(black_box(&ascii)).len())
    });
    group.bench_function("UTF-8 with an escape sequence", |b| {
        b.iter(|| text::clean(black_box(unicode)).len())
    });
    group.finish();
}

/// What a broadcast costs the loop per recipient: appending the framed line to each output queue.
fn fan_out(c: &mut Criterion) {
    let line = b"<b7> ~B 7 123456 1732470000000000000 some padding to make it 64 b\n";
    let mut outputs: Vec<Output> = (0..1000).map(|_| Output::default()).collect();
    let mut group = c.benchmark_group("fan_out");
    group.throughput(Throughput::Elements(outputs.len() as u64));
    group.bench_function("queue one line for 1,000 connections", |b| {
        let mut rounds = 0;
        b.iter(|| {
            for output in outputs.iter_mut() {
                output.push(black_box(line));
            }
            rounds += 1;
            if rounds == 32 {
                // As a pass of the loop would: everything queued is written (here, to nowhere).
                for output in outputs.iter_mut() {
                    let _ = output.write_to(&mut std::io::sink());
                }
                rounds = 0;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, line_reader, clean, fan_out);
criterion_main!(benches);
