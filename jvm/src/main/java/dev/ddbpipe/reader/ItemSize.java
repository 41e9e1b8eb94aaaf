package dev.ddbpipe.reader;

/**
 * A page's size on the wire, from the read units it consumed (a Scan page's size rounded up to
 * 4 KiB per unit, halved for eventually consistent reads: 8 KiB a unit), and the average item
 * size seen so far, which caps how many items a Scan asks for.
 */
final class ItemSize {
  static final long BYTES_PER_UNIT = 8192;
  private final double initialBytes;
  private long seenBytes;
  private long seenItems;

  ItemSize(double initialBytes) {
    this.initialBytes = Math.max(1.0, initialBytes);
  }

  synchronized long pageBytes(double consumedRcu, int items) {
    long bytes = consumedRcu > 0 ? (long) Math.ceil(consumedRcu * BYTES_PER_UNIT)
        : (long) Math.ceil(items * average());
    if (consumedRcu > 0 && items > 0) {
      seenBytes += bytes;
      seenItems += items;
    }
    return Math.max(bytes, 1);
  }

  synchronized double average() {
    return seenItems > 0 ? (double) seenBytes / seenItems : initialBytes;
  }
}
