#ifndef GLASSMM_PAIR_TABLE_FORCE_PROXY_H_
#define GLASSMM_PAIR_TABLE_FORCE_PROXY_H_

#include "openmm/serialization/SerializationProxy.h"

namespace GlassmmPlugin {

/** XML serialisation of a PairTableForce (type name "GlassmmPairTableForce"). */
class PairTableForceProxy : public OpenMM::SerializationProxy {
public:
    PairTableForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace GlassmmPlugin

#endif
