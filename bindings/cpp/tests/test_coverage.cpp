// The binding covers include/hearsay.h: every function the header declares
// is used by hearsay.hpp (test hooks: by a test), or is listed below with
// the reason it needs no call; Stats has every hearsay_stats field. A
// function or counter added to the header fails these tests until the
// binding covers it.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "harness.hpp"

namespace fs = std::filesystem;

namespace {

/// Header functions hearsay.hpp has no need to call.
const std::map<std::string, std::string> not_called = {
    {"hearsay_member_tag", "Member::tag() looks the key up in the copied tags"},
};

/// Exported only to test the panic boundary: called by the tests.
const std::set<std::string> test_hooks = {"hearsay_test_panic", "hearsay_test_panic_ptr"};

const fs::path here = fs::path(__FILE__).parent_path();  // bindings/cpp/tests
const fs::path root = here.parent_path().parent_path().parent_path();

std::string read(const fs::path& p) {
    std::ifstream in(p);
    CHECK_MSG(in, "cannot read " << p);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// `text` without comments (which mention calls in prose) and without
/// string literals (which name calls in error messages).
std::string code_only(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        if (text.compare(i, 2, "//") == 0) {
            i = text.find('\n', i);
            if (i == std::string::npos) break;
        } else if (text.compare(i, 2, "/*") == 0) {
            const std::size_t end = text.find("*/", i + 2);
            CHECK(end != std::string::npos);
            i = end + 2;
            out += ' ';
        } else if (text[i] == '"' || text[i] == '\'') {
            const char quote = text[i];
            for (++i; i < text.size() && text[i] != quote; ++i) {
                if (text[i] == '\\') ++i;
            }
            ++i;
            out += "\"\"";
        } else {
            out += text[i++];
        }
    }
    return out;
}

bool ident_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

/// Every `hearsay_name(...)`, a call or a declaration: the name, and the
/// character after its closing parenthesis (";" for a declaration).
std::vector<std::pair<std::string, std::string>> calls(const std::string& code) {
    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = code.find("hearsay_"); i != std::string::npos; i = code.find("hearsay_", i + 1)) {
        if (i > 0 && (ident_char(code[i - 1]) || std::isupper(static_cast<unsigned char>(code[i - 1])))) continue;
        std::size_t j = i;
        while (j < code.size() && ident_char(code[j])) ++j;
        if (j >= code.size() || code[j] != '(') continue;
        const std::size_t close = code.find(')', j);
        if (close == std::string::npos) break;
        std::size_t k = close + 1;
        while (k < code.size() && std::isspace(static_cast<unsigned char>(code[k]))) ++k;
        out.emplace_back(code.substr(i, j - i), code.substr(k, 1));
    }
    return out;
}

std::set<std::string> header_functions() {
    std::set<std::string> out;
    for (const auto& [name, next] : calls(code_only(read(root / "include" / "hearsay.h")))) {
        if (next == ";") out.insert(name);
    }
    CHECK_MSG(out.size() > 100 && out.count("hearsay_pool_new") && out.count("hearsay_test_panic_ptr"),
              "the header parsed into " << out.size() << " functions");
    return out;
}

/// Every hearsay_ identifier of `text`'s code: calls, and functions passed
/// as deleters or operations.
std::set<std::string> referenced_in(const std::string& text) {
    const std::string code = code_only(text);
    std::set<std::string> out;
    for (std::size_t i = code.find("hearsay_"); i != std::string::npos; i = code.find("hearsay_", i + 1)) {
        if (i > 0 && (ident_char(code[i - 1]) || std::isupper(static_cast<unsigned char>(code[i - 1])))) continue;
        std::size_t j = i;
        while (j < code.size() && ident_char(code[j])) ++j;
        out.insert(code.substr(i, j - i));
    }
    return out;
}

}  // namespace

TEST(every_header_function_is_covered) {
    const std::set<std::string> declared = header_functions();
    const std::set<std::string> by_header = referenced_in(read(here.parent_path() / "hearsay.hpp"));
    std::set<std::string> by_tests;
    for (const auto& entry : fs::directory_iterator(here)) {
        if (entry.path().extension() == ".cpp" && entry.path().filename() != fs::path(__FILE__).filename()) {
            for (const std::string& n : referenced_in(read(entry.path()))) by_tests.insert(n);
        }
    }
    std::string missing;
    for (const std::string& name : declared) {
        const bool covered = test_hooks.count(name) ? by_tests.count(name) > 0
                                                    : by_header.count(name) > 0 || not_called.count(name) > 0;
        if (!covered) missing += " " + name;
    }
    CHECK_MSG(missing.empty(), "functions of include/hearsay.h the C++ binding does not use:" << missing);
    for (const auto& entry : not_called) {
        CHECK_MSG(declared.count(entry.first), entry.first << " is not in the header");
        CHECK_MSG(!by_header.count(entry.first), entry.first << " is used by hearsay.hpp: drop it from not_called");
    }
    for (const std::string& hook : test_hooks) CHECK_MSG(declared.count(hook), hook << " is not in the header");
}

TEST(stats_has_every_header_field) {
    const std::string header = code_only(read(root / "include" / "hearsay.h"));
    const std::string open = "typedef struct hearsay_stats {";
    const std::size_t begin = header.find(open);
    CHECK(begin != std::string::npos);
    const std::size_t end = header.find("} hearsay_stats;", begin);
    CHECK(end != std::string::npos);
    std::istringstream fields(header.substr(begin + open.size(), end - begin - open.size()));
    const std::string binding = read(here.parent_path() / "hearsay.hpp");
    std::string type, name;
    int n = 0;
    while (fields >> type >> name) {
        CHECK_MSG(type == "uint32_t" || type == "uint64_t", "unexpected field type " << type);
        CHECK(!name.empty() && name.back() == ';');
        name.pop_back();
        if (name == "size") continue;
        ++n;
        CHECK_MSG(binding.find("std::" + type + " " + name + " = 0;") != std::string::npos,
                  "Stats lacks std::" << type << " " << name);
        CHECK_MSG(binding.find("out." + name + " = s." + name + ";") != std::string::npos,
                  "Pool::stats() does not copy " << name);
    }
    CHECK_MSG(n > 30, "parsed " << n << " fields");
}

TEST_MAIN()
