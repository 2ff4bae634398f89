import Glibc
import NSEWire
import NSEBroker

/// With NSEBOX_BROKER_STATS=1, the broker process states its open descriptors and
/// resident memory on stderr after each script phase ("nsebox broker: after host
/// scripts: 12 descriptors, 41236 KiB resident"), so that a load test can see
/// them come back to where they were once thousands of children are gone.
enum BrokerStats {
    static var enabled: Bool { Broker.statsEnabled }

    static func report(_ phase: String, _ broker: Broker? = nil) {
        guard enabled else { return }
        // Give freed heap back first, so that the number is what is in use.
        _ = malloc_trim(0)
        FileHandleStderr.write("nsebox broker: \(phase): \(descriptors()) descriptors, \(residentKiB()) KiB resident\n")
        if let broker {
            FileHandleStderr.write("nsebox broker: \(phase): nselib modules in the zygote: \(broker.zygoteModules)\n")
            FileHandleStderr.write("nsebox broker: \(phase): of those, from the bytecode cache: \(broker.zygoteModulesFromCache); compiled into it: \(broker.zygoteModulesCached)\n")
            FileHandleStderr.write("nsebox broker: \(phase): scripts with the zygote's bytecode: \(broker.zygoteScripts); jobs given their bytecode: \(broker.scriptBytecodeJobs)\n")
            FileHandleStderr.write("nsebox broker: \(phase): of those scripts, from the bytecode cache: \(broker.zygoteScriptsFromCache); compiled into it: \(broker.zygoteScriptsCached)\n")
            FileHandleStderr.write("nsebox broker: \(phase): nselib loads by instances: \(broker.instanceModuleLoads)\n")
            FileHandleStderr.write("nsebox broker: \(phase): nselib loads from bytecode: \(broker.bytecodeLoads)\n")
            FileHandleStderr.write("nsebox broker: \(phase): instances started from the pool: \(broker.pooledStarts)\n")
            let made = broker.requestCounts.enumerated().compactMap { n, count in
                count == 0 ? nil : Op(rawValue: UInt8(n)).map { "\($0) \(count)" } }
            FileHandleStderr.write("nsebox broker: \(phase): requests from instances: \(made.joined(separator: ", "))\n")
        }
    }

    /// The scan's CPU time by process, once its zygote has ended: where a
    /// process per instance spends (bench/run's W1 floor prints it for nmap's
    /// comparison).
    static func reportCPU(_ broker: Broker) {
        guard enabled else { return }
        let split = broker.cpuSplit
        func ms(_ seconds: Double) -> String { String(Int((seconds * 1000).rounded())) }
        let zygote = split.zygote.map { ms($0) + " ms" } ?? "none"
        FileHandleStderr.write("nsebox broker: CPU: broker \(ms(split.broker)) ms, zygote \(zygote), instances \(ms(split.instances)) ms (\(split.ended) instances)\n")
    }

    static func descriptors() -> Int {
        guard let d = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(d) }
        var n = -3  // ".", "..", and the directory's own descriptor
        while readdir(d) != nil { n += 1 }
        return n
    }

    static func residentKiB() -> Int {
        guard let f = fopen("/proc/self/status", "r") else { return -1 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            if text.hasPrefix("VmRSS:") { return Int(text.dropFirst(6).filter(\.isNumber)) ?? -1 }
        }
        return -1
    }
}

/// glibc's malloc_trim(3) (malloc.h is not part of the Glibc module).
@_silgen_name("malloc_trim") private func malloc_trim(_ pad: Int) -> Int32
