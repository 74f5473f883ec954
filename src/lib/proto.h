/* proto.h: not written yet */
