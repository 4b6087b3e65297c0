// Warm, in-process h2o-genmodel: the fair baseline of `converge bench mojo`.
//
// Run as a single-file source program (no build tool): java -cp h2o-genmodel.jar Bench.java
//   MOJO CSV WARMUP_SECONDS PASSES LATENCY_ROWS
// Reads every CSV row into a RowData first (cells as text, PredictCsv's missing tokens left out, as
// PredictCsv does), warms the JIT up by scoring the rows for WARMUP_SECONDS, then times PASSES
// passes over all rows (throughput) and LATENCY_ROWS single-row calls (latency). Prints one JSON
// object (rows/s by wall clock and by the scoring thread's CPU time). Excludes: JVM start-up, MOJO
// load, CSV reading; includes parsing each cell's text.
import au.com.bytecode.opencsv.CSVReader;
import hex.genmodel.MojoModel;
import hex.genmodel.easy.EasyPredictModelWrapper;
import hex.genmodel.easy.RowData;
import java.io.FileReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

public class Bench {
  private static final Set<String> MISSING = Set.of("", "NA", "N/A", "-");

  public static void main(String[] args) throws Exception {
    String mojo = args[0];
    String csv = args[1];
    double warmupSeconds = Double.parseDouble(args[2]);
    int passes = Integer.parseInt(args[3]);
    int latencyRows = Integer.parseInt(args[4]);

    EasyPredictModelWrapper model = new EasyPredictModelWrapper(
        new EasyPredictModelWrapper.Config()
            .setModel(MojoModel.load(mojo))
            .setConvertUnknownCategoricalLevelsToNa(true));
    List<RowData> rows = readRows(csv);

    long warmupEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
    long warmupPasses = 0;
    double sink = 0;
    while (System.nanoTime() < warmupEnd) {
      sink += scoreAll(model, rows);
      warmupPasses++;
    }

    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long started = System.nanoTime();
    long cpuStarted = threads.getCurrentThreadCpuTime();
    for (int pass = 0; pass < passes; pass++) {
      sink += scoreAll(model, rows);
    }
    double seconds = (System.nanoTime() - started) / 1e9;
    // The scoring thread's own CPU time: on a shared machine, what wall time would be when quiet.
    double cpuSeconds = (threads.getCurrentThreadCpuTime() - cpuStarted) / 1e9;

    double[] latencies = new double[Math.min(latencyRows, rows.size())];
    for (int i = 0; i < latencies.length; i++) {
      long t0 = System.nanoTime();
      sink += model.predict(rows.get(i)).hashCode() & 1;
      latencies[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(latencies);
    System.out.printf(
        "{\"rows\": %d, \"passes\": %d, \"warmup_passes\": %d, \"rows_per_s\": %.1f, "
            + "\"cpu_rows_per_s\": %.1f, "
            + "\"p50_ms\": %.6f, \"p99_ms\": %.6f, \"sink\": %.1f}%n",
        rows.size(), passes, warmupPasses, rows.size() * (double) passes / seconds,
        rows.size() * (double) passes / cpuSeconds,
        quantile(latencies, 0.50), quantile(latencies, 0.99), sink % 2);
  }

  private static double scoreAll(EasyPredictModelWrapper model, List<RowData> rows)
      throws Exception {
    double sink = 0;
    for (RowData row : rows) {
      sink += model.predict(row).hashCode() & 1;  // keeps the JIT from dropping the call
    }
    return sink;
  }

  private static List<RowData> readRows(String csv) throws Exception {
    List<RowData> rows = new ArrayList<>();
    try (CSVReader reader = new CSVReader(new FileReader(csv))) {
      String[] header = reader.readNext();
      String[] cells;
      while ((cells = reader.readNext()) != null) {
        RowData row = new RowData();
        for (int i = 0; i < Math.min(header.length, cells.length); i++) {
          if (!MISSING.contains(cells[i])) {
            row.put(header[i], cells[i]);
          }
        }
        rows.add(row);
      }
    }
    return rows;
  }

  private static double quantile(double[] sorted, double q) {
    if (sorted.length == 0) {
      return Double.NaN;
    }
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * sorted.length))];
  }
}
