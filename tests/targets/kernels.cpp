#include "kernels.hpp"

#include "targets/llvm/ir.hpp"

namespace kcache::test {

const char* const kVectorAdd = R"(
declare i32 @kcache.thread_idx.x()
declare i32 @kcache.block_idx.x()
declare i32 @kcache.block_dim.x()

define void @vadd(ptr addrspace(1) %a, ptr addrspace(1) %b, ptr addrspace(1) %c, i32 %n) {
entry:
  %tid = call i32 @kcache.thread_idx.x()
  %bid = call i32 @kcache.block_idx.x()
  %bdim = call i32 @kcache.block_dim.x()
  %base = mul i32 %bid, %bdim
  %i = add i32 %base, %tid
  %in = icmp slt i32 %i, %n
  br i1 %in, label %body, label %exit
body:
  %idx = sext i32 %i to i64
  %pa = getelementptr float, ptr addrspace(1) %a, i64 %idx
  %pb = getelementptr float, ptr addrspace(1) %b, i64 %idx
  %pc = getelementptr float, ptr addrspace(1) %c, i64 %idx
  %va = load float, ptr addrspace(1) %pa
  %vb = load float, ptr addrspace(1) %pb
  %s = fadd float %va, %vb
  store float %s, ptr addrspace(1) %pc
  br label %exit
exit:
  ret void
}
)";

const char* const kReduce = R"(
@tile = internal addrspace(3) global [256 x float] undef, align 4

declare i32 @kcache.thread_idx.x()
declare i32 @kcache.block_idx.x()
declare i32 @kcache.block_dim.x()
declare void @kcache.barrier()
declare float @kcache.atomic_add.f32(ptr addrspace(1), float)

define i32 @global_id() {
  %tid = call i32 @kcache.thread_idx.x()
  %bid = call i32 @kcache.block_idx.x()
  %bdim = call i32 @kcache.block_dim.x()
  %base = mul i32 %bid, %bdim
  %i = add i32 %base, %tid
  ret i32 %i
}

define void @reduce(ptr addrspace(1) %in, ptr addrspace(1) %out, i32 %n) {
entry:
  %tid = call i32 @kcache.thread_idx.x()
  %bdim = call i32 @kcache.block_dim.x()
  %i = call i32 @global_id()
  %inr = icmp slt i32 %i, %n
  br i1 %inr, label %load, label %store
load:
  %idx = sext i32 %i to i64
  %p = getelementptr float, ptr addrspace(1) %in, i64 %idx
  %v0 = load float, ptr addrspace(1) %p
  br label %store
store:
  %v = phi float [ %v0, %load ], [ 0.0, %entry ]
  %t64 = zext i32 %tid to i64
  %slot = getelementptr [256 x float], ptr addrspace(3) @tile, i64 0, i64 %t64
  store float %v, ptr addrspace(3) %slot
  call void @kcache.barrier()
  %s0 = lshr i32 %bdim, 1
  br label %loop
loop:
  %s = phi i32 [ %s0, %store ], [ %snext, %sync ]
  %more = icmp ugt i32 %s, 0
  br i1 %more, label %step, label %done
step:
  %active = icmp ult i32 %tid, %s
  br i1 %active, label %add, label %sync
add:
  %other = add i32 %tid, %s
  %o64 = zext i32 %other to i64
  %po = getelementptr [256 x float], ptr addrspace(3) @tile, i64 0, i64 %o64
  %x = load float, ptr addrspace(3) %slot
  %y = load float, ptr addrspace(3) %po
  %sum = fadd float %x, %y
  store float %sum, ptr addrspace(3) %slot
  br label %sync
sync:
  call void @kcache.barrier()
  %snext = lshr i32 %s, 1
  br label %loop
done:
  %first = icmp eq i32 %tid, 0
  br i1 %first, label %publish, label %exit
publish:
  %total = load float, ptr addrspace(3) @tile
  %old = call float @kcache.atomic_add.f32(ptr addrspace(1) %out, float %total)
  br label %exit
exit:
  ret void
}
)";

const char* const kMath = R"(
declare i32 @kcache.thread_idx.x()
declare float @kcache.sqrt.f32(float)
declare float @kcache.exp.f32(float)
declare double @kcache.sqrt.f64(double)

define void @math(ptr addrspace(1) %in, ptr addrspace(1) %out,
                  ptr addrspace(1) %in64, ptr addrspace(1) %out64) {
  %tid = call i32 @kcache.thread_idx.x()
  %i = zext i32 %tid to i64
  %p = getelementptr float, ptr addrspace(1) %in, i64 %i
  %x = load float, ptr addrspace(1) %p
  %r = call float @kcache.sqrt.f32(float %x)
  %e = call float @kcache.exp.f32(float %x)
  %y = fadd float %r, %e
  %q = getelementptr float, ptr addrspace(1) %out, i64 %i
  store float %y, ptr addrspace(1) %q
  %p64 = getelementptr double, ptr addrspace(1) %in64, i64 %i
  %x64 = load double, ptr addrspace(1) %p64
  %r64 = call double @kcache.sqrt.f64(double %x64)
  %q64 = getelementptr double, ptr addrspace(1) %out64, i64 %i
  store double %r64, ptr addrspace(1) %q64
  ret void
}
)";

std::string math_kernel(const std::vector<std::string>& builtins) {
    static const std::pair<const char*, int> kArity[] = {
        {"pow", 2}, {"fmin", 2}, {"fmax", 2}, {"fma", 3}};
    std::string decls, body;
    int n = 0;
    for (const auto& b : builtins) {
        std::string op = b.substr(0, b.find('.'));
        std::string ty = b.ends_with("f32") ? "float" : "double";
        int arity = 1;
        for (auto [name, a] : kArity)
            if (op == name)
                arity = a;
        std::string params, args;
        for (int i = 0; i < arity; ++i) {
            params += (i ? ", " : "") + ty;
            args += (i ? ", " : "") + ty + " %x" + std::to_string(n);
        }
        std::string id = std::to_string(n++);
        decls += "declare " + ty + " @kcache." + b + "(" + params + ")\n";
        body += "  %p" + id + " = getelementptr i8, ptr addrspace(1) %buf, i64 " +
                std::to_string(n * 8) + "\n";
        body += "  %x" + id + " = load " + ty + ", ptr addrspace(1) %p" + id + "\n";
        body += "  %y" + id + " = call " + ty + " @kcache." + b + "(" + args + ")\n";
        body += "  store " + ty + " %y" + id + ", ptr addrspace(1) %p" + id + "\n";
    }
    return decls + "define void @all_math(ptr addrspace(1) %buf) {\n" + body + "  ret void\n}\n";
}

Compilation::Compilation(const std::string& ir) : module(parse_ir(ir, ctx.get()).release()) {}

Artifact compile(const std::string& ir, const std::string& kernel, const TargetSpec& spec) {
    Compilation c(ir);
    return spec.kind.target().compile(*c.module, kernel, spec);
}

} // namespace kcache::test
