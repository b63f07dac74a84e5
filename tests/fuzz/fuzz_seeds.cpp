// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/)
// from Cairn's real encoders, so that every target starts from inputs that
// decode and reach deep into its decoder: tools/fuzz --seeds runs it.
// Usage: fuzz_seeds CORPUS_DIR CONFIG_EXAMPLE_TOML
// Deterministic: the same sources write the same files.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "messages/base58.hpp"
#include "messages/base64url.hpp"
#include "messages/cid.hpp"
#include "messages/http.hpp"
#include "messages/manifest.hpp"
#include "messages/peer_record.hpp"
#include "messages/wire/dht_messages.hpp"
#include "messages/wire/frame.hpp"
#include "messages/wire/messages.hpp"
#include "storage/merkle_tree.hpp"

using namespace cairn;
namespace dht = cairn::wire::dht;

namespace {

std::string root_dir;

void put(const std::string& target, const std::string& name, byte_view x) {
  auto dir = root_dir + "/" + target;
  ::mkdir(dir.c_str(), 0755);
  std::ofstream f{dir + "/" + name, std::ios::binary};
  f.write(reinterpret_cast<const char*>(x.data), x.size);
  if (!f)
    std::cerr << "fuzz_seeds: cannot write " << dir << "/" << name << "\n";
}

// A seed whose first byte picks the target's mode.
void put_mode(const std::string& target, const std::string& name, uint8_t mode,
              std::string_view text) {
  bytes b{mode};
  b.insert(b.end(), text.begin(), text.end());
  put(target, name, b);
}

// http_headers seeds: mode, an 8-byte number, then the header text.
void put_http(const std::string& name, uint8_t mode, uint64_t number,
              std::string_view text) {
  bytes b{mode};
  for (int i = 0; i < 8; ++i)
    b.push_back(static_cast<uint8_t>(number >> (8 * i)));
  b.insert(b.end(), text.begin(), text.end());
  put("http_headers", name, b);
}

ed25519_seed seed_of(uint8_t x) {
  ed25519_seed s{};
  s.fill(x);
  return s;
}

peer_record record_of(uint8_t x, size_t naddrs) {
  std::vector<std::string> addrs;
  for (size_t i = 0; i < naddrs; ++i)
    addrs.push_back(
      make_multiaddr("10.0.0." + std::to_string(x), 8070 + i, i % 2 == 1));
  return peer_record::make(seed_of(x), 1700000000000 + x, std::move(addrs));
}

digest256 digest_of(uint8_t x) {
  digest256 d{};
  d.fill(x);
  return d;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: fuzz_seeds CORPUS_DIR CONFIG_EXAMPLE_TOML\n";
    return 2;
  }
  root_dir = argv[1];
  ::mkdir(root_dir.c_str(), 0755);

  // -- CIDs and multibase -----------------------------------------------------
  auto data_cid = cid::of(multicodec::codex_block, bytes{1, 2, 3});
  auto tree_cid = cid{multicodec::codex_root, digest_of(7)};
  auto man_cid = cid::of(multicodec::codex_manifest, bytes{4});
  int i = 0;
  for (auto& c : {data_cid, tree_cid, man_cid}) {
    auto n = std::to_string(i++);
    put_mode("cid", "text-" + n, 0, c.to_string());
    auto bin = c.to_bytes();
    put_mode(
      "cid", "binary-" + n, 1,
      std::string_view{reinterpret_cast<const char*>(bin.data()), bin.size()});
    put_mode("cid", "base58-" + n, 2, base58_encode(bin));
    put_mode("cid", "base64url-" + n, 3, base64url_encode(bin));
  }
  put_mode("cid", "base58-zeros", 2, base58_encode(bytes{0, 0, 1}));
  put_mode("cid", "base64url-padded", 3, base64url_encode(bytes{1, 2}) + "==");

  // -- peer records, multiaddrs, peer IDs
  // ---------------------------------------
  auto rec = record_of(1, 2);
  auto rec_bin = rec.encode();
  put_mode("peer_record", "binary", 0,
           std::string_view{reinterpret_cast<const char*>(rec_bin.data()),
                            rec_bin.size()});
  auto big = record_of(2, 16).encode();
  put_mode(
    "peer_record", "binary-16-addrs", 0,
    std::string_view{reinterpret_cast<const char*>(big.data()), big.size()});
  put_mode("peer_record", "text", 1, rec.to_text());
  put_mode("peer_record", "bootstrap-text", 2, rec.to_text());
  put_mode("peer_record", "bootstrap-json", 2,
           "{\"spr\":\"" + rec.to_text() + "\"}");
  put_mode("peer_record", "multiaddr-ip4-tcp", 3, "/ip4/127.0.0.1/tcp/8070");
  put_mode("peer_record", "multiaddr-dns4-udp", 3,
           "/dns4/node.example/udp/8090");
  put_mode("peer_record", "peer-id", 4, rec.id().to_string());

  // -- manifests
  // ----------------------------------------------------------------
  manifest plain;
  plain.tree_cid = tree_cid;
  plain.dataset_size = 200000;
  plain.filename = "hello.txt";
  plain.mimetype = "text/plain";
  put("manifest", "plain", plain.encode());
  manifest bare;
  bare.tree_cid = tree_cid;
  bare.dataset_size = 1;
  put("manifest", "bare", bare.encode());
  manifest prot = plain;
  prot.is_protected = true;
  prot.ec_k = 3;
  prot.ec_m = 2;
  prot.original_tree_cid = cid{multicodec::codex_root, digest_of(8)};
  prot.original_dataset_size = 200000;
  prot.dataset_size = 65536 * 10;
  put("manifest", "protected", prot.encode());

  // -- peer messages and frames
  // ----------------------------------------------------
  std::vector<digest256> leaves;
  for (uint8_t x = 0; x < 5; ++x)
    leaves.push_back(sha256(bytes{x}));
  auto tree = storage::merkle_tree::build(leaves);
  auto proof = tree->proof(3);
  wire::hello hi;
  hi.public_key = rec.public_key;
  hi.addrs = {"127.0.0.1:8070", "10.0.0.1:8070"};
  hi.nonce = digest_of(9);
  wire::auth au;
  au.signature = bytes(wire::signature_size, 0x5a);
  wire::want_list wl;
  wl.full = true;
  wl.entries.push_back(
    {data_cid, 3, false, wire::want_entry::want_type::block, true});
  wl.entries.push_back({block_address{tree->root_cid(), 3}, 1, false,
                        wire::want_entry::want_type::have, false});
  wl.entries.push_back(
    {man_cid, 0, true, wire::want_entry::want_type::block, false});
  wire::block_presence bp;
  bp.presences.push_back({data_cid, true, 5});
  bp.presences.push_back({block_address{tree->root_cid(), 2}, false, 0});
  wire::block_delivery bd;
  bd.blocks.push_back(
    {data_cid, std::make_shared<const bytes>(bytes{1, 2, 3}), std::nullopt});
  bd.blocks.push_back({block_address{tree->root_cid(), 3},
                       std::make_shared<const bytes>(bytes{3}), *proof});
  std::vector<std::pair<std::string, wire::message>> msgs = {
    {"hello", hi},
    {"auth", au},
    {"want-list", wl},
    {"block-presence", bp},
    {"block-delivery", bd},
    {"ping", wire::ping{42}},
    {"pong", wire::pong{42}},
    {"goodbye", wire::goodbye{"shutting down"}},
  };
  bytes stream{0}; // read the whole stream at once
  bytes stream_small{3};
  for (auto& [name, m] : msgs) {
    put("wire_message", name, wire::encode(m));
    auto frame = wire::encode_frame(wire::encode(m));
    bytes one{static_cast<uint8_t>(name.size() % 17)};
    one.insert(one.end(), frame.begin(), frame.end());
    put("wire_frame", name, one);
    stream.insert(stream.end(), frame.begin(), frame.end());
    stream_small.insert(stream_small.end(), frame.begin(), frame.end());
  }
  put("wire_frame", "stream", stream);
  put("wire_frame", "stream-small-reads", stream_small);

  // -- DHT datagrams
  // -----------------------------------------------------------------
  auto other = record_of(3, 2);
  std::vector<std::pair<std::string, dht::body>> bodies = {
    {"ping", dht::ping{}},
    {"pong", dht::pong{}},
    {"find-node", dht::find_node{digest_of(4)}},
    {"nodes", dht::nodes{{other, record_of(4, 1)}}},
    {"add-provider", dht::add_provider{digest_of(5), rec}},
    {"get-providers", dht::get_providers{digest_of(5)}},
    {"providers", dht::providers{{other}, {record_of(5, 2)}}},
  };
  for (auto& [name, b] : bodies) {
    dht::packet pkt{77, rec, b};
    if (auto enc = dht::encode(pkt))
      put("dht_packet", name, *enc);
    else
      std::cerr << "fuzz_seeds: dht " << name << " does not encode\n";
  }

  // -- Merkle proofs: the input only steers operations, so a few shapes do.
  // ---------
  put("merkle_proof", "small-tree", bytes{5, 0, 1, 2, 3, 4, 5, 6, 7, 8});
  put("merkle_proof", "ops", bytes(64, 0x21));
  put("merkle_proof", "mixed",
      bytes{39, 255, 0, 17, 1, 2, 200, 3, 4, 9, 77, 1, 0,
            0,  4,   2, 3,  1, 0, 5,   6, 7, 8, 9,  10});

  // -- HTTP headers
  // -------------------------------------------------------------------
  put_http("range-first", 0, 4 * 1000, "bytes=0-4");
  put_http("range-open", 0, 4 * 1000, "bytes=10-");
  put_http("range-suffix", 0, 4 * 1000, "bytes=-5");
  put_http("range-multi", 0, 4 * 1000, "bytes=0-1,5-9");
  put_http("disposition-quoted", 1, 0, "attachment; filename=\"a b.txt\"");
  put_http("disposition-token", 1, 0, "attachment; filename=a.txt");
  put_http("disposition-ext", 1, 0, "attachment; filename*=UTF-8''a%20b.txt");
  put_http("disposition-escaped", 1, 0,
           disposition_for("say \"hi\" \\ there.txt"));
  put_http("accept-q", 2, 0,
           "text/plain;q=0.5, application/json;q=0.9, */*;q=0.1");
  put_http("accept-wild", 2, 0, "text/*");
  put_http("media-type", 3, 0, "text/plain; charset=utf-8");
  put_http("decimal", 4, UINT64_MAX, "18446744073709551615");
  put_http("decimal-small", 4, 100, "0042");

  // -- config values and file
  // ---------------------------------------------------------
  for (auto s : {"20GiB", "1.5 MiB", "512KB", "1048576", "3tb"})
    put_mode("config_values", std::string{"size-"} + s, 0, s);
  for (auto s : {"30d", "10m", "90", "2h", "1w"})
    put_mode("config_values", std::string{"duration-"} + s, 1, s);
  put_mode("config_values", "bootstrap-json", 2,
           "{\"spr\":\"" + rec.to_text() + "\"}");
  std::ifstream example{argv[2], std::ios::binary};
  std::stringstream toml;
  toml << example.rdbuf();
  put("config_toml", "example", std::string_view{toml.str()});
  put("config_toml", "values",
      std::string_view{"storage-quota = \"1.5GiB\"\nblock-ttl = 3600\n"
                       "metrics = true\nbootstrap-node = [\"" +
                       rec.to_text() + "\"]\nthreads = 2\n"});
  return 0;
}
