#include <pcap/pcap.h>
/* struct sockaddr_ll, for the broker's Ethernet sends (Glibc's module lacks it). */
#include <netpacket/packet.h>
