// IR method sources through the front end and lowering, for each target. An input is
//
//   <target><format><opt><argument types>\n<the IR of kernel @k>
//
// target: n (nvptx), a (amdgpu), h (host); format: t (text) or b (bitcode); opt: 0..3; the
// argument types as `kcache compile --types` takes them. E.g. "nt2Ptr{Float32},Int32\n...".
// The kernel is compiled through a KernelCompiler, whose front end dispatches the generic calls it
// declares to the kernel library. Any kcache::Error is a fine answer (a LoweringCrashError is a
// contained crash); anything else -- an uncontained crash, another exception, a hang, a leak --
// is a finding.
#include "kernels/errors.hpp"
#include "kernels/ir_method.hpp"
#include "kernels/kernel_compiler.hpp"
#include "kernels/library.hpp"
#include "kernels/type_names.hpp"
#include "targets/target_errors.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace {

using namespace kcache;

// What became of the inputs, printed when the process ends: evidence of how deep the run got
// (how many reached LLVM, how many crashes were contained).
struct Outcomes {
    std::atomic<std::uint64_t> rejected{0}, type_errors{0}, parse_errors{0}, convention_errors{0},
        lowering_errors{0}, contained_crashes{0}, other_errors{0}, compiled{0};
    ~Outcomes() {
        std::fprintf(stderr,
                     "ir_lowering_fuzzer outcomes: rejected header %llu, bad types %llu, IR parse "
                     "errors %llu, convention errors %llu, lowering errors %llu, contained "
                     "crashes %llu, other errors %llu, compiled %llu\n",
                     n(rejected), n(type_errors), n(parse_errors), n(convention_errors),
                     n(lowering_errors), n(contained_crashes), n(other_errors), n(compiled));
    }
    static unsigned long long n(const std::atomic<std::uint64_t>& c) { return c.load(); }
};
Outcomes outcomes;

// The table kernels are defined in: over the global one, where the library lives.
MethodTable& fuzz_table() {
    static MethodTable& table = []() -> MethodTable& {
        kernels::register_all();
        return MethodTable::create_overlay("fuzz.ir_lowering");
    }();
    return table;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t eol = input.find('\n');
    if (eol == std::string_view::npos || eol < 3 || eol + 1 == input.size()) {
        ++outcomes.rejected;
        return -1; // not an input of this harness: keep it out of the corpus
    }
    const std::string_view header = input.substr(0, eol), ir = input.substr(eol + 1);
    TargetSpec spec;
    switch (header[0]) {
    case 'n':
        spec.kind = TargetKind::Nvptx;
        break;
    case 'a':
        spec.kind = TargetKind::Amdgpu;
        break;
    case 'h':
        spec.kind = TargetKind::Host;
        break;
    default:
        ++outcomes.rejected;
        return -1;
    }
    if ((header[1] != 't' && header[1] != 'b') || header[2] < '0' || header[2] > '3') {
        ++outcomes.rejected;
        return -1;
    }
    spec.opt_level = header[2] - '0';

    MethodTable& table = fuzz_table();
    Function& k = Function::define("k");
    Type tt;
    try {
        tt = kernels::parse_type_list(header.substr(3));
    } catch (const kernels::KernelTypeError&) {
        ++outcomes.type_errors;
        return 0;
    }
    try {
        const std::vector<Type> params(tt.elements().begin(), tt.elements().end());
        kernels::LlvmIR source =
            header[1] == 't'
                ? kernels::LlvmIR::text(std::string(ir))
                : kernels::LlvmIR::bitcode(std::vector<std::uint8_t>(ir.begin(), ir.end()));
        kernels::add_ir_method(table, k, Signature(params), std::move(source));
        kernels::KernelCompiler compiler(table, "fuzz.ir_lowering");
        compiler.compile(k, tt, spec);
        ++outcomes.compiled;
    } catch (const IRParseError&) { // typed errors are fine answers to hostile IR
        ++outcomes.parse_errors;
    } catch (const kernels::IRConventionError&) {
        ++outcomes.convention_errors;
    } catch (const LoweringCrashError&) {
        ++outcomes.contained_crashes;
    } catch (const LoweringError&) {
        ++outcomes.lowering_errors;
    } catch (const Error&) {
        ++outcomes.other_errors;
    }
    return 0;
}
