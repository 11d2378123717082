// SPDX-License-Identifier: Apache-2.0
// The slab's segments, in a directory published to readers under RCU
// (liburcu, bulletproof flavour: no thread registration and no call_rcu
// worker thread). Segments are only ever appended; the array grows by
// doubling, and an outgrown array is freed after a grace period at a later
// thread exit, never in a draw (a draw waits for no grace period, so it can
// run inside any read-side section, the application's included). Segments
// stay mapped for the life of the process, so a pointer into one never
// dangles. lib/slice_directory.h hands out the slices in them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lib/fork.h"

namespace grndpool {

// How a segment is split into slices is lib/slice_directory.cc's to say (a
// segment's split may change while all its slices are free).
struct Segment {
  uint8_t *base;
  bool locked;
  bool droppable;
};

struct SegmentArray;  // the published array (segment_directory.cc)

// A read-side section: the segments appended so far, [0, count()). Takes no
// lock (a signal handler may read while its thread writes) and never waits.
// In a child after fork, where liburcu's state may have been copied
// mid-update, it reads with plain loads: no array is freed there.
class SegmentReader {
 public:
  SegmentReader();
  ~SegmentReader();
  SegmentReader(const SegmentReader &) = delete;
  SegmentReader &operator=(const SegmentReader &) = delete;
  size_t count() const { return count_; }
  const Segment &operator[](size_t i) const;

 private:
  enum class Mode : uint8_t { kRcu, kPlain, kChild };
  const SegmentArray *array_;
  size_t count_;
  Mode mode_;
};

// Start-up only: maps the first array and registers the fork hooks. False
// when no memory could be had (no segment can be appended then).
bool InitSegmentDirectory();

// Serialises writers: appending, and whatever they map (the overflow segment).
// A ForkSafeMutex: held across fork() by the forking thread's prepare hook,
// so no grace period of ours is in progress in a child.
fork::ForkSafeMutex &SegmentWriters();

// Writers, holding SegmentWriters(): the segments appended so far (stable
// while the lock is held), and appending one; false when no memory is left
// for a bigger array. Appends in place: the slot first, then the count with a
// release store, so readers see a consistent prefix.
size_t SegmentCountForWriter();
Segment &SegmentForWriter(size_t i);
bool AppendSegment(const Segment &segment);

// At thread exit, holding no lock: frees outgrown arrays after a grace period
// (may wait), unless this thread is inside a read-side section or liburcu is
// done with it, or this is a child.
void FreeOutgrownArrays();

// Whether the calling thread may enter a liburcu read-side section: false once
// liburcu's own thread-exit destructor has unregistered it (a signal handler
// drawing in that window must not register again: liburcu holds a lock there
// with signals unblocked). True on a thread's first call (it registers).
bool RcuReaderReady();

// False in any child process (see SegmentReader): other modules that publish
// under RCU take the same care.
bool RcuUsable();

}  // namespace grndpool
