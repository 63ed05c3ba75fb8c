// Workgroup reductions: subgroup arithmetic, then one value per subgroup
// through shared memory. Every invocation of the workgroup must call them,
// and gets the total back. Needs GL_KHR_shader_subgroup_arithmetic.
#ifndef REDUCE_GLSL
#define REDUCE_GLSL

// Enough slots for 1024 invocations with subgroups of 16, or 256 with 4.
#define REDUCE_SLOTS 64
shared float reduce_slots[REDUCE_SLOTS];

float workgroup_sum(float v) {
    v = subgroupAdd(v);
    barrier();
    if (subgroupElect()) {
        reduce_slots[gl_SubgroupID] = v;
    }
    barrier();
    float t = 0.0;
    for (uint i = 0; i < gl_NumSubgroups; i++) {
        t += reduce_slots[i];
    }
    return t;
}

float workgroup_max(float v) {
    v = subgroupMax(v);
    barrier();
    if (subgroupElect()) {
        reduce_slots[gl_SubgroupID] = v;
    }
    barrier();
    float t = reduce_slots[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) {
        t = max(t, reduce_slots[i]);
    }
    return t;
}

#endif
