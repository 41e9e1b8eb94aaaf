package dev.ddbpipe.reader;

/**
 * The bytes of Scan pages a task holds between its read workers and its consumer, bounded.
 *
 * <p>A page is admitted while fewer than {@code minPages} are held (the connector's consumer waits
 * for that many before it reads, so admitting fewer would stall it) or while the bytes held plus
 * the page's stay within {@code limitBytes}; otherwise the worker that fetched it waits. A page's
 * bytes are released when the consumer has taken its last item. Draining (the scan is over or the
 * task is cancelled) admits everything, so no worker waits for a consumer that is gone.
 */
public final class PageBudget {
  private final long limitBytes;
  private final int minPages;
  private long heldBytes;
  private int heldPages;
  private long peakBytes;
  private volatile boolean draining;

  public PageBudget(long limitBytes, int minPages) {
    this.limitBytes = limitBytes;
    this.minPages = minPages;
  }

  public synchronized void acquire(long bytes) throws InterruptedException {
    while (!draining && heldPages >= minPages && heldBytes + bytes > limitBytes) {
      wait(100);
    }
    heldBytes += bytes;
    heldPages += 1;
    peakBytes = Math.max(peakBytes, heldBytes);
  }

  public synchronized void release(long bytes) {
    heldBytes -= bytes;
    heldPages -= 1;
    notifyAll();
  }

  public synchronized void drain() {
    draining = true;
    notifyAll();
  }

  public synchronized long heldBytes() {
    return heldBytes;
  }

  public synchronized long peakBytes() {
    return peakBytes;
  }
}
