/* glassmm-pairforce: XML serialisation of PairTableForce, registered when the library loads. Apache-2.0. */

#include "PairTableForceProxy.h"
#include "PairTableForce.h"
#include "openmm/Force.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include <typeinfo>

using namespace GlassmmPlugin;
using namespace OpenMM;
using namespace std;

PairTableForceProxy::PairTableForceProxy() : SerializationProxy("GlassmmPairTableForce") {
}

void PairTableForceProxy::serialize(const void* object, SerializationNode& node) const {
    node.setIntProperty("version", 1);
    // XmlSerializer hands over the Force* it was given; Force is the primary base.
    const PairTableForce& force = dynamic_cast<const PairTableForce&>(*reinterpret_cast<const Force*>(object));
    node.setIntProperty("forceGroup", force.getForceGroup());
    node.setStringProperty("name", force.getName());
    node.setIntProperty("method", (int) force.getNonbondedMethod());
    node.setIntProperty("numTypes", force.getNumTypes());
    node.setDoubleProperty("skin", force.getNeighborSkin());
    SerializationNode& pairs = node.createChildNode("Pairs");
    for (int a = 0; a < force.getNumTypes(); a++)
        for (int b = a; b < force.getNumTypes(); b++) {
            double eps, sig, rc, sh;
            force.getPairParameters(a, b, eps, sig, rc, sh);
            pairs.createChildNode("Pair").setIntProperty("t1", a).setIntProperty("t2", b).setDoubleProperty("epsilon", eps)
                 .setDoubleProperty("sigma", sig).setDoubleProperty("cutoff", rc).setDoubleProperty("shift", sh);
        }
    SerializationNode& particles = node.createChildNode("Particles");
    vector<double> params;
    for (int i = 0; i < force.getNumParticles(); i++) {
        force.getParticleParameters(i, params);
        particles.createChildNode("Particle").setDoubleProperty("t", params[0]);
    }
}

void* PairTableForceProxy::deserialize(const SerializationNode& node) const {
    if (node.getIntProperty("version") != 1)
        throw OpenMMException("GlassmmPairTableForce: unsupported version number");
    PairTableForce* force = new PairTableForce(node.getIntProperty("numTypes"));
    try {
        force->setForceGroup(node.getIntProperty("forceGroup", 0));
        force->setName(node.getStringProperty("name", force->getName()));
        force->setNonbondedMethod((CustomNonbondedForce::NonbondedMethod) node.getIntProperty("method"));
        double skin = node.getDoubleProperty("skin", -1);
        if (skin >= 0)
            force->setNeighborSkin(skin);
        for (const SerializationNode& pair : node.getChildNode("Pairs").getChildren())
            force->setPairParameters(pair.getIntProperty("t1"), pair.getIntProperty("t2"), pair.getDoubleProperty("epsilon"),
                                     pair.getDoubleProperty("sigma"), pair.getDoubleProperty("cutoff"), pair.getDoubleProperty("shift"));
        for (const SerializationNode& particle : node.getChildNode("Particles").getChildren())
            force->addParticle({particle.getDoubleProperty("t")});
    }
    catch (...) {
        delete force;
        throw;
    }
    return static_cast<Force*>(force);
}

#if defined(WIN32)
extern "C" __declspec(dllexport) void registerGlassmmPairTableSerializationProxies();
#else
extern "C" __attribute__((constructor)) void registerGlassmmPairTableSerializationProxies();
#endif

extern "C" void registerGlassmmPairTableSerializationProxies() {
    SerializationProxy::registerProxy(typeid(PairTableForce), new PairTableForceProxy());
}
