// SPDX-License-Identifier: Apache-2.0
// grndpool_describe() and grndpool_describe_json(): what is in force, as one
// table of fields that both renderings expand, so the line and the JSON
// cannot say different things.
#pragma once

#include <string>
#include <vector>

namespace grndpool {

struct DescribeField {
  enum Kind : unsigned char {
    kText,   // line: key=text; JSON: "key": "text"
    kBytes,  // line: key=NB;   JSON: "key": N
    kCount,  // line: key=N;    JSON: "key": N
  };
  const char *key;  // as the line writes it ("hot-slice"); JSON: '-' becomes '_'
  Kind kind;
  std::string text;
  long long number;
};

// What is in force now: options, kernel path and the calls that actually
// filled, keystream, generation mode, locking, this process's id and its
// stats page. `not_started`: nullptr once start-up finished; otherwise why
// it did not, in parentheses (the fields are then only kernel-only= with it,
// and the pid). Call after a draw, so the slab and a fill exist.
std::vector<DescribeField> DescribeFields(const char *not_started);

// "grndpool key=value key=value ...", one line.
std::string DescribeLine(const std::vector<DescribeField> &fields);

// {"key": value, ...}, one line of JSON (keys with '_' for '-').
std::string DescribeJson(const std::vector<DescribeField> &fields);

}  // namespace grndpool
