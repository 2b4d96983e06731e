/* xdpfw: what the BPF side and its loader share. */
#ifndef __XDPFW_H
#define __XDPFW_H

#define MAX_RULES 256

struct rule_key {
	__u16 vlan_id;
	__u16 port;
};

#endif /* __XDPFW_H */
