import { Slots } from "../db/slots.js";

/**
 * Index builds allowed at once over every table of the process (--index-jobs). A table's
 * builds run side by side in as many sessions as it has builds, each taking a slot first: while
 * several tables are indexed each gets a share, and the last table's indexes (the tail after
 * the copy) get every slot instead of running one after another while a core idles.
 */
export class BuildSlots extends Slots {
  constructor(size: number) {
    super(Math.max(1, size));
  }
}
