extension Compat {
    /// What still differs from nmap 7.93, and why: the hand-written part of
    /// docs/compat.md, kept here so that regenerating the file keeps it. Each
    /// point names the test or issue that shows it.
    static let knownDifferences = """
        ## What still differs from nmap, and why

        - **Raw packets** go through the broker (docs/raw.md): `pcap_open`, `pcap_receive` \
        and `nmap.new_dnet` work as root; ipidseq, qscan, firewalk and an ARP probe of ours \
        give nmap's results on test hosts in network namespaces (RawPacketTests). nsebox has \
        no `--traceroute`: firewalk needs the hops from an nmap XML scan (`--nmap-xml`). \
        The host table's `reason` is still `user-set` (nsebox does no ping scan). \
        snmp-brute, which reads its answers with pcap, is back in the live conformance suite.
        - **mysql-variables** misparses MariaDB 10.11's result rows, at boundaries that move \
        with the byte length of random server values, so its output (and whether it fails) \
        changes from run to run under nmap too; the conformance suite leaves it out. \
        nsebox reads from sockets in nsock's 8 KiB pieces, so it sees the same pieces.
        - **pcre.** nmap's optional `pcre` module is not provided; no script or library in \
        nmap 7.93 requires it (only the unittest script lists it).
        - **Order of sets.** A script that prints a table walked with `pairs` prints it in the \
        order of its process's string-hash seed. Lua seeds that afresh in every process, \
        under nmap too, so such output changes order between two nmap runs as well \
        (http-feed, http-errors, http-sitemap-generator). The conformance suite runs nmap \
        again when nsebox's order differs and checks that nmap gives that order too.
        - **Condition variables** (`nmap.condvar`) are per process: scripts wait on each \
        other's registry-keyed condition variables only within one script instance \
        (docs/engine.md). Mutexes are shared through the broker.
        - **libssh2.** The four libssh2 scripts give nmap's results (LibSSH2Tests). nmap \
        7.93 itself crashes (SIGSEGV or abort, before printing its report) when several of \
        them run in one scan; under nsebox each runs in its own process and they do not.
        - **Files.** A script reads only nmap's data directories, nselib, and files the user \
        named in script arguments (userdb=, passdb=, key files); anything else is "No such \
        file or not readable by scripts", where nmap would read any file its user can.
        - **Hosts.** A script connects only to the hosts under scan (by address, or by a name \
        the user gave as a target); nmap lets a script connect anywhere. `nmap.resolve` \
        still resolves names.
        - **`openssl` is not a global.** nmap sets it as a global as well as a module; \
        nsebox loads it on `require` (every nmap 7.93 script and library that uses it requires it), so that children \
        that never use it do not start libcrypto.


        """
}
