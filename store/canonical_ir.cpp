#include "store/canonical_ir.hpp"

#include "targets/target.hpp"

#include <llvm/ADT/DenseSet.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DerivedTypes.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/TypeFinder.h>
#include <llvm/Support/raw_ostream.h>

#include <string>
#include <utility>
#include <vector>

namespace kcache::store {
namespace {

// Global values in the order a walk from the roots first references them.
class ReferenceOrder {
public:
    void visit_root(llvm::GlobalValue& g) { visit(&g); }
    void run() {
        while (!stack_.empty()) {
            llvm::GlobalValue* g = stack_.back();
            stack_.pop_back();
            if (auto* f = llvm::dyn_cast<llvm::Function>(g)) {
                for (auto& bb : *f)
                    for (auto& inst : bb)
                        for (llvm::Value* op : inst.operands())
                            visit_operand(op);
            } else if (auto* v = llvm::dyn_cast<llvm::GlobalVariable>(g)) {
                if (v->hasInitializer())
                    visit_operand(v->getInitializer());
            }
        }
    }
    const std::vector<llvm::GlobalValue*>& order() const { return order_; }

private:
    void visit(llvm::GlobalValue* g) {
        if (!seen_.insert(g).second)
            return;
        order_.push_back(g); // the order is that of discovery; the stack only drives the walk
        stack_.push_back(g);
    }
    void visit_operand(llvm::Value* v) {
        if (auto* g = llvm::dyn_cast<llvm::GlobalValue>(v)) {
            visit(g);
        } else if (auto* c = llvm::dyn_cast<llvm::Constant>(v)) {
            if (!constants_.insert(c).second)
                return;
            for (llvm::Value* op : c->operands())
                visit_operand(op);
        }
    }

    llvm::DenseSet<llvm::GlobalValue*> seen_;
    llvm::DenseSet<llvm::Constant*> constants_;
    std::vector<llvm::GlobalValue*> order_;
    std::vector<llvm::GlobalValue*> stack_;
};

// Feeds what LLVM prints straight into BLAKE3.
class HashStream final : public llvm::raw_ostream {
public:
    explicit HashStream(kernels::DigestBuilder& b) : builder_(b) { SetBuffered(); }
    ~HashStream() override { flush(); }

private:
    void write_impl(const char* p, size_t n) override {
        builder_.append(p, n); // unframed: the chunking of the stream must not matter
        pos_ += n;
    }
    uint64_t current_pos() const override { return pos_; }
    kernels::DigestBuilder& builder_;
    uint64_t pos_ = 0;
};

} // namespace

void canonicalize(llvm::Module& m) {
    m.setModuleIdentifier("");
    m.setSourceFileName("");
    rename_prepared_kernel(m, kCanonicalKernel);
    llvm::Function* kernel = m.getFunction(kCanonicalKernel);

    // Order: the kernel first, then the other external symbols in module order.
    ReferenceOrder walk;
    walk.visit_root(*kernel);
    walk.run();
    for (auto& f : m)
        if (!f.hasLocalLinkage()) {
            walk.visit_root(f);
            walk.run();
        }
    for (auto& g : m.globals())
        if (!g.hasLocalLinkage()) {
            walk.visit_root(g);
            walk.run();
        }
    std::vector<llvm::Function*> functions;
    std::vector<llvm::GlobalVariable*> globals;
    for (llvm::GlobalValue* g : walk.order()) {
        if (auto* f = llvm::dyn_cast<llvm::Function>(g))
            functions.push_back(f);
        else if (auto* v = llvm::dyn_cast<llvm::GlobalVariable>(g))
            globals.push_back(v);
    }
    llvm::DenseSet<llvm::GlobalValue*> reached(walk.order().begin(), walk.order().end());
    for (auto& f : m)
        if (!reached.contains(&f))
            functions.push_back(&f);
    for (auto& g : m.globals())
        if (!reached.contains(&g))
            globals.push_back(&g);

    auto& list = m.getFunctionList();
    for (llvm::Function* f : functions)
        list.splice(list.end(), list, f->getIterator());
    for (llvm::GlobalVariable* g : globals) {
        m.removeGlobalVariable(g);
        m.insertGlobalVariable(g);
    }

    // Private names: cleared first, so that a new name never meets an old one.
    for (llvm::Function* f : functions)
        if (f->hasLocalLinkage())
            f->setName("");
    for (llvm::GlobalVariable* g : globals)
        if (g->hasLocalLinkage())
            g->setName("");
    unsigned nf = 0, ng = 0;
    for (llvm::Function* f : functions)
        if (f->hasLocalLinkage())
            f->setName("kcache.f" + std::to_string(nf++));
    for (llvm::GlobalVariable* g : globals)
        if (g->hasLocalLinkage())
            g->setName("kcache.g" + std::to_string(ng++));

    for (llvm::Function* f : functions) {
        for (auto& arg : f->args())
            arg.setName("");
        for (auto& bb : *f) {
            bb.setName("");
            for (auto& inst : bb)
                inst.setName("");
        }
    }
}

kernels::Digest canonical_digest(llvm::Module& m) {
    llvm::TypeFinder types;
    types.run(m, /*onlyNamed=*/true);
    std::vector<std::pair<llvm::StructType*, std::string>> named;
    for (llvm::StructType* t : types) {
        named.emplace_back(t, t->getName().str());
        t->setName("");
    }
    kernels::DigestBuilder b("kcache.canonical-ir");
    {
        HashStream os(b);
        m.print(os, nullptr);
    }
    for (auto& [t, name] : named)
        t->setName(name);
    return b.finish();
}

} // namespace kcache::store
