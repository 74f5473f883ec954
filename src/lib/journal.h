/* journal.h: not written yet */
